// The replay card of a session's timeline: asks for the session's replay, and when it has one
// loads the player bundle (dist/replay.js, kept out of app.js) and plays every page load of the
// session in one player, its progress bar marked with the timeline's clicks, route changes,
// errors and slow requests; `t=<ms>` in the URL opens it paused at that moment, and the
// timeline's rows seek it.
import { sessionReplay } from '../api';
import type { Cell } from '../api';
import { el } from '../dom';
import { eventMarker, pauseMarker } from '../replay/markers';
import type { Marker } from '../replay/markers';
import type { Player } from '../replay/player';
import { href, param } from '../url';

type PlayerModule = typeof import('../replay/player');
/** rrweb's event as the player takes it (checked here: a numeric type and timestamp). */
type RecordedEvent = Parameters<PlayerModule['mountPlayer']>[1][number];

/** Where build.mjs writes the player bundle and its styles. */
const PLAYER_JS = '/replay.js',
  PLAYER_CSS = '/replay.css';
/** Timeline events this close outside the recording still get a marker (at its end): the
 * recorder and the agent read the clock at slightly different moments. */
const MARKER_SLACK_MS = 1000;

let playerModule: Promise<PlayerModule> | null = null;
/** The player bundle and its stylesheet, fetched once per page (again after a failure). */
function loadPlayer(): Promise<PlayerModule> {
  if (!playerModule) {
    const css = new Promise<void>((resolve, reject) => {
      const link = el('link', { rel: 'stylesheet', href: PLAYER_CSS });
      link.addEventListener('load', () => resolve());
      link.addEventListener('error', () => reject(new Error(`could not load ${PLAYER_CSS}`)));
      document.head.append(link);
    });
    // a runtime URL, so esbuild leaves the import to the browser instead of bundling it
    const js = import(PLAYER_JS) as Promise<PlayerModule>;
    playerModule = Promise.all([js, css]).then(([m]) => m);
    playerModule.catch(() => (playerModule = null));
  }
  return playerModule;
}

const isRecorded = (x: unknown): x is RecordedEvent =>
  typeof x === 'object' &&
  x !== null &&
  typeof (x as RecordedEvent).type === 'number' &&
  typeof (x as RecordedEvent).timestamp === 'number';

/**
 * Fills `card` with the session's replay, or a note that it has none. `events` are the
 * timeline's (GET /api/v1/sessions/{id}); the rows of `rows` (with `data-ts`) that fall in the
 * recording get links that seek the player.
 */
export async function replayCard(
  pid: number,
  sid: string,
  card: HTMLElement,
  events: Record<string, Cell>[],
  rows: HTMLElement,
): Promise<void> {
  const state = (s: string, ...children: HTMLElement[]) => {
    card.dataset.state = s;
    card.replaceChildren(...children);
  };
  state('loading', el('p', { class: 'loading' }, 'Loading the replay…'));
  let recorded: RecordedEvent[];
  let mod: PlayerModule;
  try {
    const segments = await sessionReplay(pid, sid);
    if (!segments) {
      state(
        'none',
        el(
          'p',
          { class: 'muted replay-none', 'data-testid': 'replay-none' },
          'No replay for this session.',
        ),
      );
      return;
    }
    // every page load's segments in seq order, for one player: each load starts with its own
    // full snapshot, which rrweb rebuilds the page from
    recorded = segments.flatMap((s) => s.events.filter(isRecorded));
    if (!recorded.some((e) => e.type === 2)) {
      state(
        'none',
        el(
          'p',
          { class: 'muted replay-none', 'data-testid': 'replay-none' },
          'The replay of this session holds no page snapshot to play.',
        ),
      );
      return;
    }
    mod = await loadPlayer();
  } catch (e) {
    state(
      'error',
      el(
        'p',
        { class: 'error', 'data-testid': 'replay-error' },
        `Could not load the replay: ${(e as Error).message}`,
      ),
    );
    return;
  }
  if (!card.isConnected) return; // the view was left meanwhile
  let start = Infinity,
    end = -Infinity;
  for (const e of recorded) {
    start = Math.min(start, e.timestamp);
    end = Math.max(end, e.timestamp);
  }
  const markers = [...events.map(eventMarker), ...recorded.map(pauseMarker)]
    .filter((m): m is Marker => m !== null)
    .filter((m) => m.ts >= start - MARKER_SLACK_MS && m.ts <= end + MARKER_SLACK_MS);
  const t = param('t', '');
  const at = t !== '' && Number.isFinite(Number(t)) ? Number(t) : null;
  const host = el('div', { class: 'replay', 'data-testid': 'replay' });
  state('ready', el('h3', {}, 'Replay'), host);
  try {
    seekLinks(rows, mod.mountPlayer(host, recorded, markers, at), host);
  } catch (e) {
    state(
      'error',
      el(
        'p',
        { class: 'error', 'data-testid': 'replay-error' },
        `Could not play the replay: ${(e as Error).message}`,
      ),
    );
  }
}

/** The timeline's rows inside the recording seek the player: the time of each, and a "replay" link on errors. */
function seekLinks(rows: HTMLElement, player: Player, host: HTMLElement): void {
  const seekTo = (ts: number) => {
    const a = el('a', { href: href(location.pathname, { t: String(ts) }) });
    a.addEventListener('click', (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
      ev.preventDefault();
      // the moment goes into the URL (to share it) without drawing the view again
      history.replaceState(null, '', a.href);
      player.seek(ts);
      host.scrollIntoView({ block: 'nearest' });
    });
    return a;
  };
  for (const tr of rows.querySelectorAll<HTMLElement>('tr[data-ts]')) {
    const ts = Number(tr.dataset.ts);
    if (!(ts >= player.start - MARKER_SLACK_MS && ts <= player.end + MARKER_SLACK_MS)) continue;
    const cell = tr.querySelector('td');
    if (cell) {
      const a = seekTo(ts);
      a.className = 'seek';
      a.title = 'Show this moment in the replay';
      a.append(...cell.childNodes);
      cell.append(a);
    }
    if (tr.dataset.type === 'errors') {
      const a = seekTo(ts);
      a.className = 'session-replay';
      a.dataset.testid = 'replay-at';
      a.textContent = 'replay';
      tr.querySelector('.summary')?.append(' · ', a);
    }
  }
}
