// JavaScript errors (onerror, unhandledrejection, vigil.error) with raw stack, parsed frames and
// breadcrumbs; resource load failures (capture-phase `error` on window); console.error as
// breadcrumbs.
import type { Frame } from '../types';
import { breadcrumbs, crumb, track } from '../core';
import { parseStack } from '../stack';
import { W, clip, on, abs } from '../util';

let count = 0;
const seen: Record<string, number> = {};

export function reportError(
  err: unknown,
  source: string,
  handled: boolean,
  fallback?: Frame,
): void {
  const e = err as {
    name?: unknown;
    message?: unknown;
    stack?: unknown;
    constructor?: { name?: string };
  } | null;
  const isObj = !!e && typeof e == 'object';
  let type =
    isObj && typeof e.name == 'string' && e.name
      ? e.name
      : isObj && e.constructor && e.constructor.name;
  if (!type || type == 'Object')
    type = source == 'unhandledrejection' ? 'UnhandledRejection' : 'Error';
  let message = isObj && e.message != null ? String(e.message) : isObj ? safeJson(e) : String(err);
  if (!message) message = type;
  const stack = isObj && typeof e.stack == 'string' ? clip(e.stack, 16000) : undefined;
  let frames = parseStack(stack);
  if (!frames.length && fallback && fallback.file) frames = [fallback];
  // At most 100 errors per page, and 10 of the same.
  const k = type + message + (frames[0] ? frames[0].file + ':' + frames[0].line : '');
  seen[k] = (seen[k] || 0) + 1;
  if (++count > 100 || seen[k] > 10) return;
  const bc = breadcrumbs();
  track({
    type: 'error',
    error_type: clip(type, 200),
    message: clip(message, 4000),
    stack,
    frames: frames.length
      ? frames.map((f) => ({
          ...f,
          function: f.function && clip(f.function, 500),
          file: f.file && clip(f.file, 2000),
        }))
      : undefined,
    handled,
    source,
    breadcrumbs: bc.length ? bc : undefined,
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
        ee.error != null ? ee.error : { name: 'Error', message: ee.message || 'Script error.' },
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
  const orig = c && c.error;
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
