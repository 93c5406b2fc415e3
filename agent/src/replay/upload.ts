// Segments (docs/replay.md): the events of one view, numbered per session, compressed with the
// browser's own CompressionStream (no worker, no blob: URL, no eval: a strict CSP allows it)
// and POSTed as text/plain (CORS-safelisted: no preflight), with retries for what may pass later.
import { debug, safe } from '../util';

/** A kept event: its JSON, timestamp, and the view it was recorded in. */
export interface Entry {
  s: string;
  t: number;
  v: string;
}
export type Mode = 'session' | 'error';

/** Under the 64 KiB that a keepalive request may carry (as the core's batches). */
export const LIMIT = 60000;
/** Past this many bytes sent, a session's replay stops: the collector keeps at most 64 MiB. */
export const MAX_SESSION_BYTES = 48 * 1024 * 1024;
const MAX_ATTEMPTS = 4;
const MAX_RENUMBER = 3;

// What this session has sent, beside its id (as the core keeps the session itself), so that the
// next page of the session numbers its segments on and knows an error was seen.
const KEY = 'vigil_replay';
export interface Saved {
  /** session id */
  id: string;
  /** the next segment's seq */
  seq: number;
  /** bytes sent */
  bytes: number;
  /** an error-triggered replay was triggered: later pages record everything */
  err?: 1;
  /** the replay is over (MAX_SESSION_BYTES, or the collector's own limit) */
  end?: 1;
}
let mem: Saved | undefined; // where storage is blocked

/** Reads this session's record, lets `f` change it, and stores it (in one task). */
export function saved(id: string, f?: (s: Saved) => void): Saved {
  let s: Saved | undefined;
  try {
    s = JSON.parse(localStorage.getItem(KEY) || 'null') as Saved | undefined;
  } catch {
    s = mem;
  }
  if (!s || s.id != id || typeof s.seq != 'number') s = { id, seq: 0, bytes: 0 };
  if (f) {
    f(s);
    mem = s;
    try {
      localStorage.setItem(KEY, JSON.stringify(s));
    } catch {
      /* memory only */
    }
  }
  return s;
}

const nextSeq = (id: string): number => saved(id, (s) => s.seq++).seq - 1;

interface Segment {
  sid: string;
  view: string;
  mode: Mode;
  seq: number;
  evs: Entry[];
  renumbered: number;
}

export interface Uploader {
  /** Sends `evs` (of session `sid`) as segments; `exit`: the page is being hidden or left. */
  send(sid: string, mode: Mode, evs: Entry[], exit: boolean): void;
  /** The compressed size of `bytes` of events, as the last segments compressed. */
  estimate(bytes: number): number;
}

/**
 * `url`: the replay endpoint with the key; `post`: the page's fetch as it was before any agent
 * wrapped it (the core's request collector would otherwise record and trace these requests);
 * `sent`: told of the bytes the collector accepted; `over`: the collector holds all it will;
 * `allowed`: false once nothing may be sent any more (consent withdrawn), retries included.
 */
export function uploader(
  url: string,
  post: typeof fetch,
  sent: (sid: string, bytes: number) => void,
  over: (sid: string) => void,
  allowed: () => boolean,
): Uploader {
  const CS = typeof CompressionStream == 'function' ? CompressionStream : undefined;
  const utf8 = new TextEncoder();
  // raw JSON bytes per compressed byte, as the last segment had it (rrweb's JSON compresses
  // about 5 to 15 times); 4 at first, so the first segments stay under the limit
  let ratio = CS ? 4 : 1;
  let inflight = 0; // keepalive bytes in flight (the browser allows 64 KiB)

  const json = (g: Segment): string => {
    let start = Infinity;
    let end = 0;
    for (const e of g.evs) {
      start = Math.min(start, e.t);
      end = Math.max(end, e.t);
    }
    return (
      '{"v":1,"session_id":' +
      JSON.stringify(g.sid) +
      ',"view_id":' +
      JSON.stringify(g.view) +
      ',"seq":' +
      g.seq +
      ',"start":' +
      start +
      ',"end":' +
      end +
      ',"mode":"' +
      g.mode +
      '","events":[' +
      g.evs.map((e) => e.s).join(',') +
      ']}'
    );
  };

  async function gzip(b: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
    const s = new Blob([b]).stream().pipeThrough(new CS!('gzip'));
    return new Uint8Array(await new Response(s).arrayBuffer());
  }

  /** Encodes and sends a segment: gzip, except at exit when it fits a keepalive request as is:
   *  a compression started at pagehide never ends in Chromium (the page is gone first). */
  function ship(g: Segment, exit: boolean): void {
    const raw = utf8.encode(json(g));
    if (!CS || (exit && raw.length <= LIMIT)) return attempt(g, raw, 'none', 0);
    gzip(raw).then(
      safe((gz: Uint8Array<ArrayBuffer>) => {
        ratio = Math.max(1.5, Math.min(20, (ratio + raw.length / gz.length) / 2));
        attempt(g, gz, 'gzip', 0);
      }),
      safe(() => attempt(g, raw, 'none', 0)),
    );
  }

  function attempt(g: Segment, body: Uint8Array<ArrayBuffer>, enc: string, n: number): void {
    if (!allowed()) return;
    const len = body.length;
    const keepalive = inflight + len <= LIMIT;
    if (keepalive) inflight += len;
    const done = (): void => {
      if (keepalive) inflight -= len;
    };
    const again = (sec: number): void => {
      if (n + 1 >= MAX_ATTEMPTS) return debug('replay segment dropped', g.seq);
      const back = sec > 0 ? Math.min(sec, 60) * 1e3 : 1e3 * 2 ** n * (0.8 + Math.random() * 0.4);
      setTimeout(
        safe(() => attempt(g, body, enc, n + 1)),
        back,
      );
    };
    post(url + enc, {
      method: 'POST',
      body,
      keepalive,
      credentials: 'omit',
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
    }).then(
      safe((r: Response) => {
        done();
        const s = r.status;
        debug('replay segment', g.seq, enc, len, s);
        if (s >= 200 && s < 300) return sent(g.sid, len);
        if (s == 408 || s == 429 || s >= 500) {
          const ra = r.headers.get('Retry-After');
          return again(ra ? +ra || 0 : 0);
        }
        // Another tab of the session took this number first (a retry's 409 is its own
        // segment, stored already): the segment takes the next one.
        if (s == 409 && !n && g.renumbered++ < MAX_RENUMBER) {
          g.seq = nextSeq(g.sid);
          return ship(g, false);
        }
        r.json().then(
          safe((j: { code?: string; error?: string }) => {
            // the collector's error bodies name the code `code` (docs/replay.md: `error`)
            const code = j?.code || j?.error;
            if (s == 413 && code == 'session_replay_too_large') over(g.sid);
            debug('replay segment refused', s, code);
          }),
          () => undefined,
        );
      }),
      safe(() => {
        done();
        again(0);
      }),
    );
  }

  const estimate = (bytes: number): number => bytes / ratio;

  return {
    estimate,
    send(sid, mode, evs, exit) {
      // One segment per run of events of one view, cut where it would compress past LIMIT.
      let cur: Segment | undefined;
      let bytes = 0;
      const out: Segment[] = [];
      for (const e of evs) {
        if (!cur || e.v != cur.view || estimate(bytes + e.s.length) > LIMIT) {
          cur = { sid, view: e.v, mode, seq: 0, evs: [], renumbered: 0 };
          out.push(cur);
          bytes = 0;
        }
        cur.evs.push(e);
        bytes += e.s.length + 1;
      }
      for (const g of out) {
        g.seq = nextSeq(sid);
        ship(g, exit);
      }
    },
  };
}
