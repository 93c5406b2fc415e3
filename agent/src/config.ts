// Agent options: from the script tag's data-attributes (IIFE build) or passed to init() (npm).
import { clip } from './util';

export interface Options {
  /** The project's public key (`pk_…`). Required. */
  key: string;
  /** Ingest URL. Default: the agent script's origin + `/api/v1/ingest` (else the page's). */
  endpoint?: string;
  /** Share of sessions sent, 0…1 (deterministic per session id). Default 1. */
  sampleRate?: number;
  /** Share of page views whose resource timings are sent, 0…1. Default 0.1. */
  resourceSampleRate?: number;
  /** Collect nothing until `vigil.consent(true)`. */
  consentRequired?: boolean;
  /** Do not start until `vigil.start()`. */
  manualStart?: boolean;
  /** Origins that receive a W3C `traceparent` header. `self` is the page's origin; `*` may
   *  start a host (`https://*.example.com`). Default: `['self']`. */
  traceOrigins?: string[];
  /** Share of sessions whose traces the backend is asked to record (`traceparent`'s sampled
   *  flag), 0…1, decided per session id independently of sampleRate. Default 1. */
  traceSampleRate?: number;
  release?: string;
  environment?: string;
  /** Log what the agent does to the console (console.debug). */
  debug?: boolean;
  /** Share of sent sessions recorded whole for session replay, 0…1 (per session id). Default 0. */
  replaySampleRate?: number;
  /** Share of sent sessions whose replay is kept in memory (the last 60 s) and sent only once an
   *  error is reported, then recorded to the end, 0…1 (per session id). Default 0. */
  replayOnErrorRate?: number;
  /** Replay: mask every text of the page, not only `.vigil-mask` elements and form fields. */
  replayMaskAllText?: boolean;
  /** Replay: record images (by URL); by default each is a placeholder of its size. */
  replayImages?: boolean;
}

export interface Config {
  key: string;
  endpoint: string;
  sampleRate: number;
  resourceSampleRate: number;
  consentRequired: boolean;
  manualStart: boolean;
  trace: RegExp[];
  traceRate: number;
  release?: string;
  environment?: string;
  debug: boolean;
}

export function rate(v: unknown, d = 0): number {
  const n = typeof v == 'number' ? v : typeof v == 'string' && v.trim() ? +v : NaN;
  return n >= 0 && n <= 1 ? n : d;
}

function originRe(o: string): RegExp | undefined {
  o = o.trim().replace(/\/+$/, '');
  if (!o || o == 'none') return undefined;
  if (o == 'self') o = location.origin;
  const esc = o.replace(/[.+?^${}()|[\]\\/]/g, '\\$&').replace(/\*/g, '[^/]*');
  return new RegExp('^' + esc + '(?:[/?#]|$)', 'i');
}

/** A release or environment: at most 200 bytes. */
const tag = (v: unknown): string | undefined => (v ? clip(v, 200) : undefined);

export function makeConfig(o: Options, scriptSrc?: string): Config {
  let base = location.href;
  try {
    if (scriptSrc) base = new URL(scriptSrc, location.href).href;
  } catch {
    /* keep the page */
  }
  const endpoint = new URL(o.endpoint || '/api/v1/ingest', o.endpoint ? location.href : base).href;
  const trace: RegExp[] = [];
  for (const t of o.traceOrigins || ['self']) {
    const r = originRe(t);
    if (r) trace.push(r);
  }
  return {
    key: String(o.key || ''),
    endpoint,
    sampleRate: rate(o.sampleRate, 1),
    resourceSampleRate: rate(o.resourceSampleRate, 0.1),
    consentRequired: !!o.consentRequired,
    manualStart: !!o.manualStart,
    trace,
    traceRate: rate(o.traceSampleRate, 1),
    release: tag(o.release),
    environment: tag(o.environment),
    debug: !!o.debug,
  };
}

const flag = (v: string | undefined): boolean => v != null && v != 'false' && v != '0';

/** Options from a script tag's data-attributes (camelCased by `dataset`: data-sample-rate is
 *  sampleRate, data-trace-sample-rate traceSampleRate; rates stay strings); makeConfig reads
 *  only the options it knows. */
export function fromScript(s: HTMLScriptElement): Options {
  const d = s.dataset;
  return Object.assign({}, d, {
    consentRequired: flag(d.consentRequired),
    manualStart: flag(d.manualStart),
    traceOrigins: d.traceOrigins?.split(/[\s,]+/),
    debug: flag(d.debug),
  }) as unknown as Options; // without data-key, makeConfig makes the key empty (and nothing starts)
}
