// Batching and delivery: one batch per ~16 KiB or 5 s, sendBeacon on exit, fetch keepalive
// otherwise, retries with exponential backoff (Retry-After wins), and an offline queue that
// is sent on `online` (and kept in localStorage when the page is left offline).
import type { Context, Ev } from './types';
import { W, D, debug, now, safe, on } from './util';

const FLUSH_BYTES = 16384; // a batch is sent once this many bytes are queued
const MAX_BODY = 60000; // under the 64 KiB that beacons and keepalive requests may carry
const MAX_EVENTS = 250; // the collector allows 500 per batch
const INTERVAL = 5000;
const KEEPALIVE = 65536; // in-flight keepalive budget of the browser
const MAX_RETRY_BYTES = 512 * 1024;
const MAX_ATTEMPTS = 10;
const STORE = 'vigil_queue';

// The page's fetch as it was when the agent loaded: our own requests are never recorded.
export const nativeFetch: typeof fetch | undefined = W.fetch?.bind(W);
const nav = navigator;

interface Pending {
  b: string; // body
  n: number; // attempts so far
  at: number; // when to try again
}

let url = '';
let ctx: () => Context;
let q: Ev[] = [];
let qBytes = 0;
let timer: ReturnType<typeof setTimeout> | 0 = 0;
let soon = false;
let retry: Pending[] = [];
let rTimer: ReturnType<typeof setTimeout> | 0 = 0;
let inflight = 0;

const offline = (): boolean => nav.onLine === false;
const size = (s: string): number => new Blob([s]).size;

export function setup(endpoint: string, key: string, context: () => Context): void {
  url = endpoint + (endpoint.indexOf('?') < 0 ? '?' : '&') + 'key=' + encodeURIComponent(key);
  ctx = context;
  on(W, 'online', () => {
    for (const p of retry) p.at = 0;
    run();
  });
  // Batches a previous page could not send because it was offline.
  try {
    const v = localStorage.getItem(STORE);
    if (v) {
      localStorage.removeItem(STORE);
      for (const b of JSON.parse(v) as string[]) if (typeof b == 'string') later(b, 0, -1);
    }
  } catch {
    /* nothing stored */
  }
}

/** Queues one event. */
export function push(ev: Ev): void {
  q.push(ev);
  // Usually the view and URL are the context's and are left out of the event when sent.
  qBytes +=
    JSON.stringify(ev).length +
    1 -
    (ev.view_id ? ev.view_id.length + 13 : 0) -
    (ev.page_url ? ev.page_url.length + 14 : 0);
  if (qBytes >= FLUSH_BYTES || q.length >= MAX_EVENTS) flush(false);
  else if (D.visibilityState == 'hidden') {
    // Reported while the page is hidden (web vitals, the last actions): send right away.
    if (!soon) {
      soon = true;
      setTimeout(
        safe(() => {
          soon = false;
          flush(true);
        }),
        0,
      );
    }
  } else if (!timer)
    timer = setTimeout(
      safe(() => flush(false)),
      INTERVAL,
    );
}

/** Forgets everything queued (consent withdrawn). */
export function drop(): void {
  q = [];
  qBytes = 0;
  retry = [];
}

function bodies(events: Ev[]): string[] {
  const c = ctx();
  const head = '{"v":1,"context":' + JSON.stringify(c) + ',"events":[';
  const out: string[] = [];
  let cur: string[] = [];
  let len = head.length + 2;
  for (const e of events) {
    // What the context already says is left out of each event.
    if (e.view_id == c.view_id) delete e.view_id;
    if (e.page_url == c.page_url) delete e.page_url;
    const s = JSON.stringify(e);
    if (cur.length && (len + s.length + 1 > MAX_BODY || cur.length >= MAX_EVENTS)) {
      out.push(head + cur.join(',') + ']}');
      cur = [];
      len = head.length + 2;
    }
    cur.push(s);
    len += s.length + 1;
  }
  if (cur.length) out.push(head + cur.join(',') + ']}');
  return out;
}

/** Sends what is queued. `exit`: the page is being hidden or left. */
export function flush(exit: boolean): void {
  if (timer) clearTimeout(timer);
  timer = 0;
  if (!url) return;
  const out = q.length ? bodies(q) : [];
  q = [];
  qBytes = 0;
  if (exit) {
    // Last chance for batches waiting for a retry.
    for (const p of retry) out.push(p.b);
    retry = [];
    if (offline()) {
      store(out);
      return;
    }
  }
  for (const b of out) send(b, exit, 0);
}

function store(out: string[]): void {
  try {
    const prev = JSON.parse(localStorage.getItem(STORE) || '[]') as string[];
    const all = prev.concat(out);
    let total = 0;
    const keep: string[] = [];
    for (let i = all.length - 1; i >= 0; i--) {
      total += all[i].length;
      if (total > 200e3) break;
      keep.unshift(all[i]);
    }
    localStorage.setItem(STORE, JSON.stringify(keep));
  } catch {
    /* lost */
  }
}

function send(b: string, exit: boolean, n: number): void {
  if (offline()) return later(b, n, -1);
  if (exit && nav.sendBeacon) {
    try {
      if (nav.sendBeacon(url, b)) return debug('beacon', b.length);
    } catch {
      /* fall back to fetch */
    }
  }
  if (!nativeFetch) return;
  const len = size(b);
  const keepalive = inflight + len <= KEEPALIVE;
  if (keepalive) inflight += len;
  const done = (): void => {
    if (keepalive) inflight -= len;
  };
  nativeFetch(url, { method: 'POST', body: b, keepalive, credentials: 'omit' }).then(
    safe((r: Response) => {
      done();
      const s = r.status;
      debug('sent', b.length, s);
      if (s >= 200 && s < 300) return;
      if (s == 413) return split(b);
      if (s == 408 || s == 429 || s >= 500) {
        const ra = r.headers.get('Retry-After');
        let sec = ra ? +ra : NaN;
        if (ra && isNaN(sec)) sec = (Date.parse(ra) - now()) / 1e3;
        return later(b, n + 1, sec >= 0 ? sec : 0);
      }
      r.json().then(
        (j: { code?: string }) => debug('batch rejected', s, j?.code),
        () => undefined,
      );
    }),
    safe(() => {
      done();
      later(b, n + 1, 0);
    }),
  );
}

function split(b: string): void {
  const j = JSON.parse(b) as { context: Context; events: unknown[] };
  const e = j.events;
  if (e.length < 2) return;
  const h = e.length >> 1;
  for (const part of [e.slice(0, h), e.slice(h)])
    send(JSON.stringify({ v: 1, context: j.context, events: part }), false, 0);
}

/** Keeps a batch to try again: after `sec` seconds when > 0, else with backoff (-1: at once). */
function later(b: string, n: number, sec: number): void {
  if (n > MAX_ATTEMPTS) return;
  // (n ≥ 1 here whenever `back` is used: a first try is never delayed by backoff)
  const back = Math.min(60e3, 1e3 * 2 ** (n - 1)) * (0.8 + Math.random() * 0.4);
  retry.push({
    b,
    n,
    at: now() + (sec > 0 ? Math.min(sec * 1e3, 300e3) : sec < 0 ? 0 : Math.min(back, 60e3)),
  });
  let total = 0;
  for (const p of retry) total += p.b.length;
  while (retry.length > 1 && (retry.length > 50 || total > MAX_RETRY_BYTES)) {
    total -= retry.shift()!.b.length;
  }
  schedule();
}

function schedule(): void {
  if (rTimer) clearTimeout(rTimer);
  rTimer = 0;
  if (!retry.length || offline()) return; // `online` restarts them
  let at = Infinity;
  for (const p of retry) at = Math.min(at, p.at);
  rTimer = setTimeout(safe(run), Math.max(0, at - now()));
}

function run(): void {
  if (offline()) return;
  const t = now();
  const due = retry.filter((p) => p.at <= t);
  retry = retry.filter((p) => p.at > t);
  for (const p of due) send(p.b, false, p.n);
  schedule();
}
