// What an error group's page (error-group.ts) and a mobile crash group's page (crash.ts) share,
// and the lists' title and badges: the stack of frames (the application's open, runs of the
// others folded), the state with the triage buttons, the figures, the chart over the range and
// the breakdowns. Each page passes its own words.
import { roleIn } from '../api';
import type { Breakdown, Cell, ErrorGroup, GroupState } from '../api';
import { bars, countLines } from '../charts';
import { el } from '../dom';
import { fmtCell, fmtNum, fmtTime } from '../format';
import { navigate } from '../url';

/** A frame as the collector stores it (an error's or cause's `frames`, a crash's `frames`). */
export interface Frame {
  function?: string;
  file?: string;
  line?: number;
  column?: number;
  /** Absent on frames stored before they were marked (or as an SDK sent them): the application's. */
  in_app?: boolean;
  /** Errors only: the original source, from an uploaded source map. */
  mapped?: {
    file: string;
    function?: string;
    line: number;
    column: number;
    context?: { start_line: number; lines: string[] };
  };
  /** Errors only: why the frame could not be mapped. */
  unmapped?: { code: string; reason: string };
}

/** A JSON text column read as `T` when it has the expected shape, else `dflt`. */
export function parsed<T>(v: Cell | undefined, ok: (x: unknown) => boolean, dflt: T): T {
  if (typeof v !== 'string' || v === '') return dflt;
  try {
    const x: unknown = JSON.parse(v);
    return ok(x) ? (x as T) : dflt;
  } catch {
    return dflt;
  }
}
export const isObject = (x: unknown): boolean => typeof x === 'object' && x !== null;
/** The `frames` column (JSON text) as frames; anything else as none. */
export const framesOf = (v: Cell | undefined): Frame[] =>
  parsed<unknown[]>(v, Array.isArray, []).filter(isObject) as Frame[];

/** How a page names what is not the application's code. */
export interface StackWords {
  /** A folded run's summary after "N frames": e.g. "of the system or libraries". */
  others: string;
  /** A frame without a function name: "(anonymous)" in JavaScript, "(unsymbolicated)" on Apple. */
  unnamed: string;
}

const frameLocation = (file: string | undefined, line?: number, column?: number): string =>
  (file || '?') + (line ? `:${line}` : '') + (line && column ? `:${column}` : '');

/** A map's source path as a reader wants it: without the bundler's scheme
 * (`webpack:///`, `webpack://app/`) and the build machine's `../` and `./` steps. */
const sourcePath = (file: string): string =>
  file.replace(/^[a-z-]+:\/\/[^/]*\//i, '').replace(/^(\.\.?\/)+/, '');

function frameItem(f: Frame, words: StackWords): HTMLElement {
  const inApp = f.in_app !== false;
  const m = f.mapped;
  const minified = frameLocation(f.file, f.line, f.column);
  const where = m ? frameLocation(sourcePath(m.file), m.line, m.column) : minified;
  return el(
    'li',
    {
      class: `frame ${inApp ? 'in-app' : 'lib'}`,
      'data-testid': 'frame',
      'data-in-app': String(inApp),
      'data-mapped': String(!!m),
    },
    el(
      'div',
      { class: 'frame-head' },
      el(
        'code',
        { class: 'fn', 'data-testid': 'frame-function' },
        m?.function ?? f.function ?? words.unnamed,
      ),
      ' at ',
      el(
        'code',
        { class: 'loc', 'data-testid': 'frame-location', title: m ? m.file : minified },
        where,
      ),
      inApp ? el('span', { class: 'badge badge-in-app' }, 'in app') : null,
      m
        ? el(
            'span',
            {
              class: 'minified',
              'data-testid': 'frame-minified',
              title: 'Where the browser reported it, in the minified script',
            },
            `minified: ${minified}`,
          )
        : null,
    ),
    m?.context ? sourceContext(m.context, m.line) : null,
    f.unmapped
      ? el(
          'div',
          { class: 'unmapped', 'data-testid': 'frame-unmapped', 'data-code': f.unmapped.code },
          f.unmapped.reason,
        )
      : null,
  );
}

/** The original source around a frame, its line highlighted. */
function sourceContext(c: { start_line: number; lines: string[] }, line: number): HTMLElement {
  return el(
    'pre',
    { class: 'source-context', 'data-testid': 'frame-context' },
    ...(Array.isArray(c.lines) ? c.lines : []).map((text, i) => {
      const n = Number(c.start_line) + i;
      return el(
        'span',
        n === line
          ? { class: 'ctx-line hl', 'data-line': String(n), 'data-testid': 'context-highlight' }
          : { class: 'ctx-line', 'data-line': String(n) },
        el('span', { class: 'ln' }, String(n)),
        String(text),
      );
    }),
  );
}

/**
 * Frames innermost first: the application's open, runs of others folded (all open when none
 * is the application's).
 */
export function stack(frames: Frame[], testid: string, words: StackWords): HTMLElement {
  const list = el('ol', { class: 'frames', 'data-testid': testid });
  const anyInApp = frames.some((f) => f.in_app !== false);
  let run: Frame[] = [];
  const flush = () => {
    if (!run.length) return;
    list.append(
      el(
        'li',
        { class: 'folded' },
        el(
          'details',
          { 'data-testid': 'folded-frames' },
          el(
            'summary',
            {},
            `${run.length} ${run.length === 1 ? 'frame' : 'frames'} ${words.others}`,
          ),
          el('ol', { class: 'frames' }, ...run.map((f) => frameItem(f, words))),
        ),
      ),
    );
    run = [];
  };
  for (const f of frames) {
    if (anyInApp && f.in_app === false) run.push(f);
    else {
      flush();
      list.append(frameItem(f, words));
    }
  }
  flush();
  return list;
}

/** A group's title: type and message. */
export function groupTitle(g: ErrorGroup): string {
  return [g.error_type, g.message].filter((x) => x).join(': ') || '(no message)';
}
/** State, regression and critical-page badges of a group. */
export function groupBadges(g: ErrorGroup): HTMLElement {
  const b = (cls: string, text: string, title: string) =>
    el('span', { class: `badge ${cls}`, 'data-badge': cls, title }, text);
  return el(
    'span',
    { class: 'badges' },
    g.regressed
      ? b('regressed', 'regression', 'It was resolved and happened again')
      : g.state === 'resolved'
        ? b(
            'resolved',
            g.in_next_release ? 'resolved in next release' : 'resolved',
            g.resolved_at ? `Resolved ${fmtTime(g.resolved_at)}` : 'Resolved',
          )
        : g.state === 'ignored'
          ? b('ignored', 'ignored', 'Left out of the default list')
          : null,
    g.critical_users > 0
      ? b(
          'critical',
          'critical page',
          `${fmtNum(g.critical_users)} of its users were on a critical page`,
        )
      : null,
  );
}

/**
 * The group's state in `words`, and for members and owners the buttons that change it
 * (`setState` saves a change; the page is then drawn again); viewers read `readonly`.
 */
export function stateCard(
  pid: number,
  g: ErrorGroup,
  words: string,
  readonly: string,
  setState: (state: GroupState, inNextRelease: boolean) => Promise<unknown>,
): HTMLElement {
  const msg = el('span', { class: 'error', role: 'alert' });
  const parts: HTMLElement[] = [
    el('span', { 'data-testid': 'group-state', 'data-state': g.state }, words),
  ];
  if (roleIn(pid) === 'viewer')
    parts.push(
      el('span', { class: 'muted', 'data-testid': 'group-actions-readonly' }, ` ${readonly}`),
    );
  else {
    const buttons: HTMLButtonElement[] = [];
    const button = (testid: string, label: string, state: GroupState, next = false) => {
      const b = el('button', { type: 'button', 'data-testid': testid }, label);
      b.addEventListener('click', async () => {
        for (const x of buttons) x.disabled = true;
        msg.textContent = '';
        try {
          await setState(state, next);
          navigate(location.pathname + location.search, true);
        } catch (e) {
          msg.textContent = (e as Error).message;
          for (const x of buttons) x.disabled = false;
        }
      });
      buttons.push(b);
    };
    if (g.state === 'unresolved') {
      button('resolve', 'Resolve', 'resolved');
      button('resolve-next', 'Resolve in next release', 'resolved', true);
      button('ignore', 'Ignore', 'ignored');
    } else button('reopen', 'Reopen', 'unresolved');
    parts.push(
      el('span', { class: 'controls inline-controls', 'data-testid': 'group-actions' }, ...buttons),
    );
  }
  return el('div', { class: 'card state-card' }, ...parts, msg);
}

/** One of a group's figures: `raw` in data-raw for tests and anyone reading the DOM. */
export function groupFigure(
  testid: string,
  name: string,
  value: string,
  raw: Cell,
  title = '',
): HTMLElement {
  return el(
    'div',
    { class: 'card', 'data-testid': testid },
    el('div', { class: 'metric-name' }, name),
    el('div', { class: 'metric-value', 'data-raw': raw === null ? '' : String(raw), title }, value),
  );
}

/** The group's counts over the range (the server's equal buckets), drawn in `box`. */
export function groupChart(box: HTMLElement, g: ErrorGroup, from: number, to: number): void {
  const width = Math.max(1, Math.floor((to - from) / g.series.length || 1));
  countLines(
    box,
    { columns: ['time', 'count'], rows: g.series.map((n, i) => [from + i * width, n]) },
    null,
    [from, to],
  );
}

/** Where it happens: the top values of each of `dimensions` (column, label) that has some. */
export function breakdowns(
  breakdowns: Record<string, Breakdown[]>,
  dimensions: [string, string][],
  title: string,
): HTMLElement {
  const blocks = dimensions
    .filter(([dim]) => breakdowns[dim]?.length)
    .map(([dim, label]) =>
      el(
        'div',
        { class: 'breakdown', 'data-dimension': dim },
        el('h4', {}, label),
        bars(
          `breakdown-${dim}`,
          'data-value',
          breakdowns[dim].map((r) => [fmtCell(r.value), fmtCell(r.value), r.events]),
          (v) => fmtNum(v),
        ),
      ),
    );
  return el(
    'div',
    { class: 'card', 'data-testid': 'breakdowns' },
    el('h3', {}, title),
    blocks.length
      ? el('div', { class: 'breakdowns' }, ...blocks)
      : el('p', { class: 'empty' }, 'No data.'),
  );
}
