// The session: an id (its start, then random bits) kept in first-party storage (localStorage,
// else a cookie, else memory), renewed after 30 minutes without activity or 4 hours in total.
import { D, sessionId } from './util';

const KEY = 'vigil_session';
export const IDLE = 30 * 60e3;
export const MAX = 4 * 3600e3;

interface S {
  id: string;
  start: number;
  last: number;
}

let cur: S | undefined;
let saved = 0;

function read(): S | undefined {
  let v: string | null | undefined;
  try {
    v = localStorage.getItem(KEY);
  } catch {
    // Storage blocked: the cookie (reading D.cookie is costly, so only then).
    try {
      const m = D.cookie.match(/(?:^|;\s*)vigil_session=([^;]+)/);
      v = m && decodeURIComponent(m[1]);
    } catch {
      /* cookies blocked */
    }
  }
  const p = v ? v.split('.') : [];
  return p.length == 3 && p[0] ? { id: p[0], start: +p[1], last: +p[2] } : undefined;
}

function write(s: S): void {
  const v = s.id + '.' + s.start + '.' + s.last;
  try {
    localStorage.setItem(KEY, v);
    return;
  } catch {
    /* fall back to a cookie */
  }
  try {
    D.cookie =
      KEY +
      '=' +
      encodeURIComponent(v) +
      ';path=/;max-age=' +
      MAX / 1e3 +
      ';SameSite=Lax' +
      (location.protocol == 'https:' ? ';Secure' : '');
  } catch {
    /* memory only */
  }
}

const live = (s: S | undefined, t: number): s is S =>
  !!s && t - s.last < IDLE && t - s.start < MAX && s.last <= t + 60e3;

/**
 * The current session id at time t, marking activity. `renewed` is true when a new session
 * started (the previous one expired), so that the caller can close its batch first.
 */
export function touch(t: number): { id: string; renewed: boolean } {
  let renewed = false;
  if (!live(cur, t)) {
    // Another tab may have kept the session alive or started a new one.
    const s = read();
    const old = cur as S | undefined;
    renewed = !!old && (!s || s.id != old.id || !live(s, t));
    cur = live(s, t) ? s : { id: sessionId(t), start: t, last: t };
    if (!live(s, t)) saved = 0;
  }
  cur.last = t;
  if (t - saved > 5e3) persist();
  return { id: cur.id, renewed };
}

export function persist(): void {
  if (cur) {
    write(cur);
    saved = cur.last;
  }
}

export function clearSession(): void {
  cur = undefined;
  try {
    localStorage.removeItem(KEY);
  } catch {
    /* ignore */
  }
  try {
    D.cookie = KEY + '=;path=/;max-age=0';
  } catch {
    /* ignore */
  }
}
