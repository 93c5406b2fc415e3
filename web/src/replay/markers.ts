// What the replay's progress bar marks: the session's events that a person looks for in a
// recording (what they clicked, where they went, what broke, what was slow) and the times the
// recorder paused or stopped. Shared by the session view (which computes them) and the player chunk.
import type { Cell } from '../api';

export type MarkerKind = 'action' | 'route' | 'error' | 'request' | 'paused';
export interface Marker {
  kind: MarkerKind;
  /** ms since the epoch. */
  ts: number;
  /** What it is, in words (the marker's tooltip). */
  title: string;
}
export const MARKER_LABELS: Record<MarkerKind, string> = {
  action: 'clicks and actions',
  route: 'route changes',
  error: 'errors',
  request: 'slow or failed requests',
  paused: 'recording paused or stopped',
};
/** A request worth a marker: this slow (ms), or answered with a server error. */
export const SLOW_REQUEST_MS = 1000;

const text = (...parts: Cell[]): string =>
  parts.filter((p) => p !== null && p !== undefined && p !== '').join(' ');

/** The marker of one event of the session's timeline (GET /api/v1/sessions/{id}), if it gets one. */
export function eventMarker(e: Record<string, Cell>): Marker | null {
  const ts = Number(e.ts);
  if (!Number.isFinite(ts)) return null;
  switch (e.type) {
    case 'actions':
      return { kind: 'action', ts, title: text(e.action ?? 'action', e.selector ?? e.form) };
    case 'routes':
      return { kind: 'route', ts, title: text('route', e.from_url, '→', e.to_url) };
    case 'errors':
      return { kind: 'error', ts, title: text(`${String(e.error_type ?? 'Error')}:`, e.message) };
    case 'requests': {
      const duration = Number(e.duration),
        status = Number(e.status);
      if (!(duration >= SLOW_REQUEST_MS || status >= 500)) return null;
      return {
        kind: 'request',
        ts,
        title: text(
          e.method,
          e.url_template ?? e.url,
          e.status ?? e.failure,
          Number.isFinite(duration) ? `${Math.round(duration)} ms` : null,
        ),
      };
    }
    default:
      return null;
  }
}

/** The agent's words for why it paused or stopped recording (docs/replay.md, Markers). */
const PAUSE_REASONS: Record<string, string> = {
  mutation_budget: 'the page changed faster than the recording budget',
  max_size: "the session's replay reached its size limit",
  mutations: 'the page paused the recording too often',
};
/**
 * The marker of the agent's custom event (rrweb type 5) saying it paused (`vigil-paused`) or
 * stopped (`vigil-stopped`) recording: nothing is seen from there to the next snapshot.
 */
export function pauseMarker(ev: {
  type: number;
  timestamp: number;
  data?: unknown;
}): Marker | null {
  if (ev.type !== 5 || typeof ev.data !== 'object' || ev.data === null) return null;
  const { tag, payload } = ev.data as { tag?: unknown; payload?: unknown };
  const what =
    typeof tag !== 'string'
      ? null
      : /pause/i.test(tag)
        ? 'paused'
        : /stop/i.test(tag)
          ? 'stopped'
          : null;
  if (!what) return null;
  const reason =
    typeof payload === 'object' && payload !== null && 'reason' in payload
      ? String((payload as { reason: unknown }).reason)
      : '';
  return {
    kind: 'paused',
    ts: ev.timestamp,
    title: `recording ${what}${reason ? `: ${PAUSE_REASONS[reason] ?? reason}` : ''}`,
  };
}
