// JavaScript errors (onerror, unhandledrejection, vigil.error) with raw stack, parsed frames,
// the `cause` chain, the debug ids of the scripts in the stack, and breadcrumbs; resource load
// failures (capture-phase `error` on window); console.error as breadcrumbs.
import type { Frame } from '../types';
import { breadcrumbs, crumb, st, track } from '../core';
import { parseStack } from '../stack';
import { W, clip, on, abs } from '../util';

let count = 0;
const seen: Record<string, number> = {};

type Obj = {
  name?: unknown;
  message?: unknown;
  stack?: unknown;
  cause?: unknown;
  constructor?: { name?: string };
} | null;

/**
 * An error (or any thrown value) as the wire has it: type, message, stack clipped to 16 KB. A
 * value that is not an object (a string cause, a rejected number) is of type `dflt` with its
 * string as message; an object without a name (`{code: 42}`) gets its JSON.
 */
function describe(err: unknown, dflt: string) {
  const e = err as Obj;
  const isObj = !!e && typeof e == 'object';
  let type = isObj && typeof e.name == 'string' && e.name ? e.name : isObj && e.constructor?.name;
  if (!type || type == 'Object') type = dflt;
  const message =
    isObj && e.message != null ? String(e.message) : isObj ? safeJson(e) : String(err);
  return {
    error_type: clip(type, 200),
    message: clip(message || type, 4000),
    stack: isObj && typeof e.stack == 'string' ? clip(e.stack, 16000) : undefined,
  };
}

/** A stack's frames, with their names and URLs clipped. */
const framesOf = (stack: string | undefined): Frame[] =>
  parseStack(stack).map((f) => ({
    ...f,
    function: f.function && clip(f.function, 500),
    file: f.file && clip(f.file, 2000),
  }));

declare global {
  interface Window {
    /** Debug ids registered by bundles: `{[new Error().stack taken in the bundle]: debug id}`. */
    _sentryDebugIds?: Record<string, unknown>;
    _vigilDebugIds?: Record<string, unknown>;
  }
}

// A debug id as the collector takes it: a UUID, with or without its dashes.
const UUID = /^[\da-f]{8}(-?)([\da-f]{4}\1){3}[\da-f]{12}$/i;
// Script URL → debug id, from the registries that bundler plugins fill at runtime (each key is a
// stack taken inside a bundle: its innermost frame names the bundle's URL). Parsed again only
// when the registries have grown (a chunk loaded).
const ids: Record<string, string> = {};
let idKeys = -1;

/** The debug ids of the scripts among `frames`, at most 32 (undefined for none). */
function debugIds(frames: Frame[]): Record<string, string> | undefined {
  const reg = { ...W._sentryDebugIds, ...W._vigilDebugIds };
  const keys = Object.keys(reg);
  if (keys.length != idKeys) {
    idKeys = keys.length;
    for (const k of keys) {
      const f = parseStack(k)[0];
      const id = reg[k];
      if (f?.file && typeof id == 'string' && UUID.test(id)) ids[f.file] = id;
    }
  }
  const out: Record<string, string> = {};
  let n = 0;
  for (const { file } of frames) if (ids[file!] && !out[file!] && n++ < 32) out[file!] = ids[file!];
  return n ? out : undefined;
}

/** A list, or undefined when empty (left out of the JSON). */
const some = <T>(a: T[]): T[] | undefined => (a.length ? a : undefined);

export function reportError(
  err: unknown,
  source: string,
  handled: boolean,
  fallback?: Frame,
  fingerprint?: unknown,
): void {
  st.err = true;
  st.onError?.(); // an error-triggered replay starts sending
  const e = describe(err, source == 'unhandledrejection' ? 'UnhandledRejection' : 'Error');
  const frames = framesOf(e.stack);
  if (!frames.length && fallback?.file) frames.push(fallback);
  // At most 100 errors per page, and 10 of the same.
  const k = e.error_type + e.message + (frames[0] ? frames[0].file + ':' + frames[0].line : '');
  seen[k] = (seen[k] || 0) + 1;
  if (++count > 100 || seen[k] > 10) return;
  // The cause chain, at most 8, until there is no cause or one comes back (a cycle). Causes go
  // without frames (the collector parses their stacks: frames would nest deeper than a batch
  // may), but the scripts in their stacks get their debug ids.
  const chain = [err];
  for (let c = err; (c = (c as Obj)?.cause) != null && !chain.includes(c) && chain.push(c) < 9;);
  const causes = chain.slice(1).map((c) => describe(c, 'Error'));
  const fp = fingerprint as unknown[];
  track({
    type: 'error',
    ...e,
    frames: some(frames),
    handled,
    source,
    breadcrumbs: some(breadcrumbs()),
    // The application's grouping: a list of strings (a hole is not one), else ignored.
    fingerprint:
      Array.isArray(fp) && [...fp].every((p) => typeof p == 'string')
        ? fp.slice(0, 16).map((p) => clip(p, 256))
        : undefined,
    causes: some(causes),
    debug_ids: debugIds(frames.concat(...causes.map((c) => framesOf(c.stack)))),
  });
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) || String(v);
  } catch {
    return String(v);
  }
}

export function initErrors(): void {
  on(
    W,
    'error',
    (e: ErrorEvent | Event) => {
      const t = e.target as Element | null;
      if (t && t !== (W as unknown) && (t as Node).nodeType === 1) {
        // A resource that failed to load: img, script, link, video, audio, source…
        const el = t as HTMLImageElement & HTMLLinkElement;
        const u = el.currentSrc || el.src || el.href;
        if (u && typeof u == 'string')
          track({ type: 'resource_error', url: clip(abs(u), 4000), tag: t.localName });
        return;
      }
      const ee = e as ErrorEvent;
      if (!('message' in ee)) return;
      reportError(
        ee.error ?? { name: 'Error', message: ee.message || 'Script error.' },
        'onerror',
        false,
        {
          file: ee.filename || undefined,
          line: ee.lineno || undefined,
          column: ee.colno || undefined,
        },
      );
    },
    true,
  );
  on(W, 'unhandledrejection', (e: PromiseRejectionEvent) =>
    reportError(e.reason, 'unhandledrejection', false),
  );

  // console.error → breadcrumb (the original is always called, with the same arguments).
  const c = W.console;
  const orig = c?.error;
  if (typeof orig == 'function') {
    c.error = function (this: unknown, ...a: unknown[]) {
      try {
        crumb('console', a.map((x) => (x instanceof Error ? x.message : String(x))).join(' '), {
          level: 'error',
        });
      } catch {
        /* ignore */
      }
      return orig.apply(this, a);
    };
  }
}
