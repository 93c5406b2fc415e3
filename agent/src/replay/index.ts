// Session replay chunk (dist/vigil-replay.js), loaded by the core agent only for a session it
// samples for replay. It finds the core's state at `vigil._r` (session and view ids, options,
// errors) and records the page with rrweb's own @rrweb/record:
// - whole session (`replaySampleRate`): events are uploaded as they come, in segments of at most
//   5 s, and when the page is hidden or left;
// - on error (`replayOnErrorRate`): the last 60 s are kept in memory, from the last full snapshot
//   before them (one every 30 s: 60 to 90 s in all), and nothing is sent until the core reports
//   an error; then that buffer is sent and everything after it, on this page and the next ones
//   of the session.
// Cost control: a budget of recorded bytes per second (past it recording pauses, saying so in
// the replay, until the page is quiet again) and a maximum per session. It stays off where
// another rrweb recorder, or a second copy of itself, already runs.
import { record } from '@rrweb/record';
import { rate, type Options } from '../config';
import type { State } from '../core';
import { D, W, debug, now, on, safe, setDebug, unit } from '../util';
import { privacyOptions, scrub, type RREvent } from './privacy';
import { LIMIT, MAX_SESSION_BYTES, saved, uploader, type Entry, type Mode } from './upload';

/** A segment is sent once its first event is this old. */
const FLUSH_MS = 5000;
/** On error: the window kept before the error, and the full snapshot interval inside it. */
const WINDOW_MS = 60e3;
const CHECKOUT_MS = 30e3;
// The mutation budget: a token bucket of serialized event bytes (full snapshots, which the
// recorder itself decides, excluded). People clicking, typing and scrolling through an
// application make a few KB per second (mouse positions are sampled every 50 ms, a re-render
// is a few KB); a page that animates by changing its DOM (tickers, counters, progress bars,
// virtualized lists in motion) makes 100 KB to MBs per second, which would cost the visitor's
// CPU and bandwidth for little to see. 64 KB/s gzips to about 8 KB/s: a 5 s segment stays under
// the 60 KB of a keepalive request, an hour under half of the 64 MiB a session may hold.
// The burst lets a route change render a large new page.
const BUDGET_PER_S = 64 * 1024;
const BUDGET_BURST = 512 * 1024;
/** Paused: recording resumes after this many seconds with fewer DOM changes than QUIET. */
const QUIET_S = 3;
const QUIET = 50;
/** A page that exhausts the budget this often is not recorded any further. */
const MAX_PAUSES = 5;
/** Memory bound of the error window (it holds ~90 s at most otherwise). */
const MAX_RING_BYTES = 8 * 1024 * 1024;

const flag = (v: unknown): boolean =>
  v === true || (typeof v == 'string' && v != 'false' && v != '0');

/** A function as the browser made it (not patched by a recorder). */
const native = (f: unknown): boolean =>
  /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(f));

/**
 * Another recorder is running: rrweb (and its forks in Sentry, PostHog, …) replaces the input
 * value setter and CSSStyleSheet.addRule, and marks what it patches with __rrweb_original__.
 */
function otherRecorder(): boolean {
  const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')?.set;
  const addRule = (CSSStyleSheet.prototype as { addRule?: unknown }).addRule;
  const shadow = Element.prototype.attachShadow as { __rrweb_original__?: unknown };
  return (!!set && !native(set)) || (!!addRule && !native(addRule)) || !!shadow?.__rrweb_original__;
}

function start(st: State & { o: Options; f: typeof fetch }): void {
  const o = st.o;
  const whole = rate(o.replaySampleRate);
  const onError = rate(o.replayOnErrorRate);
  // As the core decided to load this chunk: one draw per session for both modes.
  const modeOf = (sid: string): Mode | undefined => {
    const u = unit('r' + sid);
    return u < whole ? 'session' : u < whole + onError ? 'error' : undefined;
  };
  const privacy = { maskAllText: flag(o.replayMaskAllText), images: flag(o.replayImages) };
  const cfg = st.cfg;
  const url =
    new URL('/api/v1/replay', cfg.endpoint).href + '?key=' + encodeURIComponent(cfg.key) + '&enc=';

  let sid = ''; // the session being recorded
  let mode: Mode | undefined;
  let sending = false; // whole session, or an error was seen
  let stopRec: (() => void) | undefined;
  let paused = false;
  let pauses = 0;
  let buf: Entry[] = []; // to send
  let bufBytes = 0;
  let ring: Array<Entry & { m: boolean }> = []; // the error window (not sending)
  let ringBytes = 0;
  let tokens = BUDGET_BURST;
  let filled = now();
  let quietObs: MutationObserver | undefined;
  let changes = 0;
  let quietFor = 0;
  /** an error was reported on this page before this chunk ran */
  let errBefore = !!st.err;

  const up = uploader(
    url,
    st.f,
    (id, n) => {
      const s = saved(id, (s) => (s.bytes += n));
      if (id == sid && s.bytes >= MAX_SESSION_BYTES) end('max_size');
    },
    (id) => id == sid && end('max_size'),
    () => !!st.on,
  );

  /** Keeps an event (already masked) for sending or in the error window. */
  function keep(e: Entry, meta: boolean): void {
    if (sending) {
      // a segment is cut before it would compress past LIMIT
      if (buf.length && up.estimate(bufBytes + e.s.length) > LIMIT) flush(false);
      buf.push(e);
      bufBytes += e.s.length + 1;
      return;
    }
    ring.push({ ...e, m: meta });
    ringBytes += e.s.length;
    // From the last full snapshot (its Meta event) at or before the window's start: the
    // window always starts with a snapshot the replay can begin from.
    const from = e.t - WINDOW_MS;
    let cut = 0;
    for (let i = 1; i < ring.length; i++)
      if (ring[i].m && (ring[i].t <= from || ringBytes > MAX_RING_BYTES)) cut = i;
    if (cut) for (const x of ring.splice(0, cut)) ringBytes -= x.s.length;
  }

  /** A marker in the replay (rrweb's custom event). */
  function mark(tag: string, payload: Record<string, unknown> = {}): void {
    const t = now();
    keep(
      { s: JSON.stringify({ type: 5, timestamp: t, data: { tag, payload } }), t, v: st.view },
      false,
    );
  }

  let emitting = false;
  /** rrweb's emit: each event, while recording. */
  function emit(ev: RREvent): void {
    if (paused || !mode) return;
    emitting = true;
    try {
      take(ev);
    } finally {
      emitting = false;
    }
  }
  /** Masks an event, counts it against the budget and keeps it. */
  function take(ev: RREvent): void {
    scrub(ev, privacy);
    const s = JSON.stringify(ev);
    const t = ev.timestamp;
    if (ev.type != 2 && ev.type != 4) {
      tokens = Math.min(BUDGET_BURST, tokens + ((t - filled) / 1e3) * BUDGET_PER_S);
      filled = t;
      tokens -= s.length;
    }
    keep({ s, t, v: st.view }, ev.type == 4);
    if (tokens < 0) pause();
  }

  function startRec(): void {
    stopRec = record({
      ...privacyOptions(privacy),
      emit: safe(emit) as (e: unknown) => void,
      checkoutEveryNms: sending ? undefined : CHECKOUT_MS,
      slimDOMOptions: true,
      recordAfter: 'DOMContentLoaded',
      // rrweb's errors stay in the chunk: a recording fault never reaches the page
      errorHandler: () => true,
    });
  }
  function stopNow(): void {
    // Not from inside rrweb's own callback: then it is stopped once that has returned.
    const f = stopRec;
    stopRec = undefined;
    if (f && emitting) setTimeout(safe(f), 0);
    else if (f) safe(f)();
  }

  function pause(): void {
    paused = true;
    stopNow();
    if (++pauses > MAX_PAUSES) return end('mutations');
    mark('vigil-paused', { reason: 'mutation_budget' });
    debug('replay paused: too many DOM changes');
    changes = quietFor = 0;
    quietObs = new MutationObserver((r) => (changes += r.length));
    quietObs.observe(D.documentElement, {
      subtree: true,
      childList: true,
      attributes: true,
      characterData: true,
    });
  }
  function resume(): void {
    quietObs?.disconnect();
    quietObs = undefined;
    paused = false;
    tokens = BUDGET_BURST;
    filled = now();
    mark('vigil-resumed');
    startRec(); // a fresh full snapshot
  }

  /** Stops for the rest of the session (`reason` in the replay) or of the page. */
  function end(reason: string): void {
    if (!mode) return;
    mark('vigil-stopped', { reason });
    flush(false);
    if (reason == 'max_size') saved(sid, (s) => (s.end = 1));
    quit();
  }
  function quit(): void {
    stopNow();
    quietObs?.disconnect();
    mode = undefined;
    paused = false;
    buf = [];
    ring = [];
    bufBytes = ringBytes = 0;
  }

  function flush(exit: boolean): void {
    if (!buf.length || !mode || !st.on) return;
    const evs = buf;
    buf = [];
    bufBytes = 0;
    up.send(sid, mode, evs, exit);
  }

  /** An error: an error-triggered replay sends its window and records on. */
  function trigger(): void {
    if (!mode || sending) return;
    sending = true;
    saved(sid, (s) => (s.err = 1));
    buf = ring;
    bufBytes = ringBytes;
    ring = [];
    ringBytes = 0;
    debug('replay: error, sending');
    flush(false);
  }

  /** Starts recording session `id` when it is sampled and not over. */
  function begin(id: string): void {
    sid = id;
    const s = saved(id);
    // (a session the core does not send is not recorded either)
    mode = s.end || st.out ? undefined : modeOf(id);
    if (!mode) return;
    sending = mode == 'session' || !!s.err;
    paused = false;
    pauses = 0;
    tokens = BUDGET_BURST;
    filled = now();
    startRec();
    if (errBefore) trigger();
    errBefore = false;
  }

  let errorMarks = 0;
  st.onError = safe(() => {
    if (!mode) return;
    // as the core reports at most 100 errors a page
    if (errorMarks++ < 100) mark('vigil-error');
    trigger();
  });

  const tick = (): void => {
    if (!st.on) {
      // consent withdrawn: nothing more is recorded or sent
      if (mode) debug('replay: agent stopped');
      return quit();
    }
    if (st.sid != sid) {
      // a new session: what was recorded belongs to the old one
      flush(false);
      quit();
      return begin(st.sid);
    }
    if (paused && quietObs) {
      quietFor = changes < QUIET ? quietFor + 1 : 0;
      changes = 0;
      if (quietFor >= QUIET_S) resume();
    }
    if (buf.length && now() - buf[0].t >= FLUSH_MS) flush(false);
  };
  setInterval(safe(tick), 1000);
  const exit = (): void => flush(true);
  on(W, 'pagehide', exit);
  on(D, 'visibilitychange', () => D.visibilityState == 'hidden' && exit());

  begin(st.sid);
  debug('replay', mode || 'not sampled', sid);
}

safe(() => {
  const st = (W as unknown as { vigil?: { _r?: State } }).vigil?._r;
  if (!st?.o || !st.f || st.rec) return; // not the agent's, or a second copy
  setDebug(st.cfg.debug);
  if (otherRecorder()) return debug('replay: another recorder runs on this page');
  st.rec = true;
  start(st as State & { o: Options; f: typeof fetch });
})();
