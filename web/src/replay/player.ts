// The session replay player: a separate bundle (dist/replay.js + replay.css), loaded only when
// a session with a replay is opened, so rrweb (≈ 190 kB minified) stays out of app.js.
// It plays only what was stored: masked text and inputs stay masked, the page is rebuilt in
// rrweb's sandboxed iframe (`allow-same-origin` only: no script of the recording runs), and
// no unsafe option (UNSAFE_replayCanvas, insertStyleRules) is set.
import { Replayer } from '@rrweb/replay';
import type { eventWithTime } from '@rrweb/types';
import '@rrweb/replay/dist/style.css';
import './player.css';
import { el } from '../dom';
import type { Marker, MarkerKind } from './markers';
import { MARKER_LABELS } from './markers';

export interface Player {
  /** Moves the replay to `ts` (ms since the epoch), keeping it playing or paused. */
  seek(ts: number): void;
  /** The replay's first and last event (ms since the epoch). */
  start: number;
  end: number;
}

const SPEEDS = [1, 2, 4, 8];
/** The tallest the page is drawn (px): the rest of the session view stays in sight. */
const MAX_STAGE_HEIGHT = 520;

/** m:ss, or h:mm:ss past an hour. */
function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000)),
    h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * Builds the player into `host` (which must be in the document: rrweb creates its iframe there)
 * from every segment's events in seq order, with `markers` on its progress bar, paused at `at`
 * (ms since the epoch) or at the start.
 */
export function mountPlayer(
  host: HTMLElement,
  events: eventWithTime[],
  markers: Marker[],
  at: number | null,
): Player {
  const stage = el('div', { class: 'replay-stage', 'data-testid': 'replay-stage' });
  const play = el('button', { type: 'button', 'data-testid': 'replay-play' }, 'Play');
  const time = el('span', { class: 'replay-time', 'data-testid': 'replay-time' });
  const skip = el('input', { type: 'checkbox', 'data-testid': 'replay-skip' });
  skip.checked = true;
  const speeds = SPEEDS.map((s) =>
    el(
      'button',
      {
        type: 'button',
        class: 'replay-speed',
        'data-testid': 'replay-speed',
        'data-speed': String(s),
        'aria-pressed': String(s === 1),
      },
      `${s}×`,
    ),
  );
  const progress = el('div', { class: 'replay-progress' });
  const bar = el(
    'div',
    {
      class: 'replay-bar',
      'data-testid': 'replay-bar',
      role: 'slider',
      tabindex: '0',
      'aria-label': 'Replay position (arrow keys: 5 s back or on)',
      'aria-valuemin': '0',
    },
    progress,
  );
  const counts = new Map<MarkerKind, number>();
  for (const m of markers) counts.set(m.kind, (counts.get(m.kind) ?? 0) + 1);
  const legend = el(
    'div',
    { class: 'replay-legend', 'data-testid': 'replay-legend' },
    ...[...counts].map(([kind, n]) =>
      el(
        'span',
        { 'data-kind': kind },
        el('i', { class: `replay-swatch marker-${kind}` }),
        `${MARKER_LABELS[kind]} (${n})`,
      ),
    ),
  );
  host.replaceChildren(
    stage,
    el(
      'div',
      { class: 'replay-controls' },
      play,
      el('span', { class: 'replay-speeds', role: 'group', 'aria-label': 'Speed' }, ...speeds),
      el('label', { class: 'replay-skip' }, skip, ' skip inactivity'),
      time,
    ),
    bar,
    legend,
  );

  const replayer = new Replayer(events, {
    root: stage,
    skipInactive: true,
    // rrweb's warnings (a node a mutation names is missing…) say nothing a viewer can act on
    showWarning: false,
    // the pointer is shown; its trail would hide what the user was looking at
    mouseTail: false,
  });
  const meta = replayer.getMetaData();
  const start = meta.startTime,
    end = meta.endTime,
    total = Math.max(1, meta.totalTime);
  bar.setAttribute('aria-valuemax', String(Math.round(total)));
  host.dataset.start = String(start);
  host.dataset.end = String(end);

  for (const m of markers) {
    const b = el('button', {
      type: 'button',
      class: `replay-marker marker-${m.kind}`,
      'data-testid': 'replay-marker',
      'data-kind': m.kind,
      'data-ts': String(m.ts),
      title: m.title,
      'aria-label': m.title,
    });
    b.style.left = `${(Math.min(Math.max(m.ts - start, 0), total) / total) * 100}%`;
    b.addEventListener('click', (ev) => {
      ev.stopPropagation(); // the bar under it would seek to where the click landed instead
      seek(m.ts);
    });
    bar.append(b);
  }

  let playing = false;
  let frame = 0;
  const current = () => Math.min(Math.max(replayer.getCurrentTime(), 0), total);
  const show = () => {
    const cur = current();
    host.dataset.current = String(Math.round(cur));
    host.dataset.playing = String(playing);
    progress.style.width = `${(cur / total) * 100}%`;
    bar.setAttribute('aria-valuenow', String(Math.round(cur)));
    time.textContent = `${clock(cur)} / ${clock(total)}`;
    play.textContent = playing ? 'Pause' : 'Play';
  };
  const tick = () => {
    frame = 0;
    if (!host.isConnected) {
      // the view was left while playing: stop rrweb's timer and let the page go
      playing = false;
      replayer.destroy();
      return;
    }
    show();
    if (playing) frame = requestAnimationFrame(tick);
  };
  const setPlaying = (on: boolean) => {
    playing = on;
    if (on && !frame) frame = requestAnimationFrame(tick);
    show();
  };
  // rrweb draws, at a seek to a moment, the events strictly before it from the last page load
  // (Meta event) at or before it. So the moment asked for is taken one ms later (the events of
  // that very ms are drawn: a page load's snapshot may be the last event); a moment between a
  // page load's Meta and its full snapshot is taken just after the snapshot, and one exactly at
  // the Meta just before it (else the old page would be dropped and the new one not drawn yet:
  // an empty or stale page); none is before the first full snapshot (nothing would be drawn:
  // a seek back to 0:00 showed the last page drawn).
  const byTime = [...events].sort((a, b) => a.timestamp - b.timestamp);
  const firstSnapshot = byTime.find((e) => e.type === 2);
  const earliest = firstSnapshot ? firstSnapshot.timestamp - start : 0;
  // each page load's [Meta, its full snapshot] offsets, from the end: the next snapshot in hand
  const loads: [number, number][] = [];
  let nextSnapshot: number | null = null;
  for (let i = byTime.length - 1; i >= 0; i--) {
    const e = byTime[i];
    if (e.type === 2) nextSnapshot = e.timestamp - start;
    else if (e.type === 4 && nextSnapshot !== null) loads.push([e.timestamp - start, nextSnapshot]);
  }
  const offsetOf = (offset: number) => {
    const o = Math.max(Math.min(offset, total), earliest) + 1;
    for (const [meta, snapshot] of loads) {
      if (o === meta) return o - 1;
      if (o > meta && o <= snapshot) return snapshot + 1;
    }
    return o;
  };
  const seekOffset = (offset: number) => {
    const o = offsetOf(offset);
    if (playing) replayer.play(o);
    else replayer.pause(o);
    show();
  };
  const seek = (ts: number) => seekOffset(ts - start);

  replayer.on('finish', () => setPlaying(false));
  play.addEventListener('click', () => {
    if (playing) {
      replayer.pause();
      setPlaying(false);
    } else {
      // at the end, Play starts over
      replayer.play(offsetOf(current() >= total ? 0 : current()));
      setPlaying(true);
    }
  });
  for (const b of speeds)
    b.addEventListener('click', () => {
      replayer.setConfig({ speed: Number(b.dataset.speed) });
      for (const x of speeds) x.setAttribute('aria-pressed', String(x === b));
    });
  skip.addEventListener('change', () => replayer.setConfig({ skipInactive: skip.checked }));
  bar.addEventListener('keydown', (ev) => {
    const step = ev.key === 'ArrowLeft' ? -5000 : ev.key === 'ArrowRight' ? 5000 : 0;
    if (!step) return;
    ev.preventDefault();
    seekOffset(current() + step);
  });
  bar.addEventListener('click', (ev) => {
    const r = bar.getBoundingClientRect();
    seekOffset(((ev.clientX - r.left) / Math.max(1, r.width)) * total);
  });

  // The recorded page keeps its own size (the Meta event's width × height): it is scaled down
  // to the card, as a picture is, so its layout is the one the user saw.
  let size = { width: 0, height: 0 };
  const fit = () => {
    if (!size.width || !size.height) return;
    const scale = Math.min(1, stage.clientWidth / size.width, MAX_STAGE_HEIGHT / size.height);
    replayer.wrapper.style.transform = `scale(${scale})`;
    replayer.wrapper.style.marginLeft = `${Math.max(0, (stage.clientWidth - size.width * scale) / 2)}px`;
    stage.style.height = `${Math.ceil(size.height * scale)}px`;
  };
  replayer.on('resize', (d) => {
    const r = d as { width?: number; height?: number };
    size = { width: Number(r.width) || 0, height: Number(r.height) || 0 };
    fit();
  });
  const onWindowResize = () =>
    host.isConnected ? fit() : removeEventListener('resize', onWindowResize);
  addEventListener('resize', onWindowResize);

  seekOffset(at === null ? 0 : at - start);
  host.dataset.state = 'ready';
  return { seek, start, end };
}
