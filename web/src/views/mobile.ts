// Mobile: apps instrumented with the OpenTelemetry Android and iOS SDKs. Headline figures
// (crash-free sessions and users, ANRs and hangs, start times, the slowest screen) on top, then
// one tab each for app starts, screens, stability (crashes, ANRs, slow and frozen frames), the
// apps' HTTP calls and the crash groups (`?crash=<fingerprint>` opens one). Tabs, because
// charts.ts draws one chart at a time.
import { col, crashGroups, first, query } from '../api';
import type { Cell, CrashGroup, GroupState, QueryResult } from '../api';
import { countLines, plot, sparkline } from '../charts';
import { el } from '../dom';
import { fmtAgo, fmtCell, fmtMetric, fmtNum, fmtShare, fmtTime } from '../format';
import { csvButton, emptyNote, joinOn, sortRows, table } from '../tables';
import { appliesHere, href, link, navigate, param, Range, urlFilters } from '../url';
import { crashView } from './crash';
import { groupBadges, groupTitle } from './group';

const TABS: [string, string][] = [
  ['starts', 'App starts'],
  ['screens', 'Screens'],
  ['stability', 'Stability'],
  ['network', 'Network'],
  ['crashes', 'Crashes'],
];
const START_TYPES = ['cold', 'warm', 'hot'];
/** Rows of the breakdown tables (most frequent values first). */
const TOP = 20;
const SCREEN_LIMIT = 1000;
/** A jank event's `threshold` (ms) from which its frames are frozen (700), below slow (16). */
const FROZEN_MS = 700;
const GROUP_LIMIT = 100;
const CRASH_ORDERS: [string, string][] = [
  ['users', 'users'],
  ['events', 'events'],
  ['sessions', 'sessions'],
  ['last_seen', 'last seen'],
  ['first_seen', 'first seen'],
];
const STATES: [GroupState | 'all', string][] = [
  ['unresolved', 'unresolved'],
  ['resolved', 'resolved'],
  ['ignored', 'ignored'],
  ['all', 'all'],
];
const ms = (v: Cell): string => fmtMetric('duration', v);
const MS_COLS = { p50: ms, p75: ms, p90: ms, 'p75 duration': ms, 'p75 blocked': ms };

/** What the headline and a tab both read, asked for once. */
interface Shared {
  pid: number;
  range: Range;
  /** screen_loads: count, sessions, users (every mobile session loads a screen). */
  loads: Promise<QueryResult>;
  /** app_starts.duration by start_type: count, p50, p75, p90. */
  starts: Promise<QueryResult>;
  /** screen_loads.duration by screen, slowest p75 first: count, p50, p75, p90. */
  screens: Promise<QueryResult>;
}
/** A tab's content; `chart` draws its chart once the content is in the page. */
interface Section {
  nodes: HTMLElement[];
  chart?: () => void;
}
const SECTIONS: Record<string, (s: Shared) => Promise<Section>> = {
  starts: startsSection,
  screens: screensSection,
  stability: stabilitySection,
  network: networkSection,
  crashes: crashesSection,
};

export async function mobileView(pid: number, box: HTMLElement, range: Range): Promise<void> {
  const fp = param('crash', '');
  if (fp) return crashView(pid, fp, box, range);
  const tab = param(
    'tab',
    'starts',
    TABS.map(([t]) => t),
  );
  const { from, to } = range;
  const durations = (metric: string, by: string, order: string) =>
    query(pid, {
      metric,
      aggregations: ['count', 'p50', 'p75', 'p90'],
      group_by: [by],
      from,
      to,
      order_by: order,
      ascending: false,
      limit: SCREEN_LIMIT,
    });
  const shared: Shared = {
    pid,
    range,
    loads: query(pid, {
      metric: 'screen_loads',
      aggregations: ['count', 'sessions', 'users'],
      from,
      to,
    }),
    starts: durations('app_starts.duration', 'start_type', 'count'),
    screens: durations('screen_loads.duration', 'screen', 'p75'),
  };
  const [head, section] = await Promise.all([headline(shared), SECTIONS[tab](shared)]);
  if (!head) {
    box.replaceChildren(el('h2', {}, 'Mobile'), noMobileData());
    return;
  }
  const tabs = el(
    'nav',
    { class: 'tabs', 'data-testid': 'mobile-tabs' },
    ...TABS.map(([t, label]) =>
      link(
        label,
        // a tab's sorting and selections are its own
        href('/mobile', { tab: t === 'starts' ? null : t, sort: null, dir: null, state: null }),
        t === tab ? 'active' : '',
      ),
    ),
  );
  box.replaceChildren(el('h2', {}, 'Mobile'), head, tabs, ...section.nodes);
  section.chart?.();
}

function noMobileData(): HTMLElement {
  if (urlFilters().some(appliesHere))
    return el(
      'p',
      { class: 'empty', 'data-testid': 'mobile-empty' },
      'No mobile data for this range and these filters.',
    );
  return el(
    'div',
    { class: 'card', 'data-testid': 'mobile-empty' },
    el('p', {}, 'This project has no mobile data in this range: no screen loads or app starts.'),
    el(
      'p',
      {},
      'Point the OpenTelemetry Android or iOS SDK of your app at Vigil to see crash-free sessions, ANRs and hangs, start times, screens and crashes here; ',
      el('code', {}, 'docs/mobile.md'),
      ' says how.',
    ),
  );
}

/** A figure of the headline: `raw` in data-raw for tests and anyone reading the DOM. */
function figure(testid: string, name: string, raw: Cell, text: string, note = ''): HTMLElement {
  return el(
    'div',
    { class: 'card', 'data-testid': testid },
    el('div', { class: 'metric-name' }, name),
    el('div', { class: 'metric-value', 'data-raw': raw === null ? '' : String(raw) }, text),
    note ? el('div', { class: 'bar-legend' }, note) : null,
  );
}
const share = (part: Cell, whole: Cell): number | null =>
  typeof whole === 'number' && whole > 0 ? Number(part ?? 0) / whole : null;
const crashFree = (crashed: Cell, of: Cell): number | null => {
  const s = share(crashed, of);
  return s === null ? null : 1 - s;
};

/** The headline figures, or null when the range has no screen load and no app start. */
async function headline({
  pid,
  range: { from, to },
  loads: allLoads,
  starts,
  screens,
}: Shared): Promise<HTMLElement | null> {
  const [loads, crashes, anrs, byType, byScreen] = await Promise.all([
    allLoads,
    query(pid, { metric: 'crashes', aggregations: ['sessions', 'users'], from, to }),
    query(pid, { metric: 'anrs', aggregations: ['sessions'], from, to }),
    starts,
    screens,
  ]);
  if (!Number(first(loads, 'count')) && !byType.rows.length) return null;
  const sessions = first(loads, 'sessions'),
    users = first(loads, 'users');
  const freeSessions = crashFree(first(crashes, 'sessions'), sessions),
    freeUsers = crashFree(first(crashes, 'users'), users),
    anrShare = share(first(anrs, 'sessions'), sessions);
  const p75Of = (type: string) => {
    const t = col(byType, 'start_type');
    const row = byType.rows.find((r) => r[t] === type);
    return row ? row[col(byType, 'p75')] : null;
  };
  const cold = p75Of('cold'),
    warm = p75Of('warm');
  const slowScreen = byScreen.rows.length ? byScreen.rows[0][col(byScreen, 'screen')] : null,
    slowP75 = first(byScreen, 'p75');
  return el(
    'div',
    { class: 'grid' },
    figure('mobile-sessions', 'Sessions', sessions, fmtNum(sessions)),
    figure('crash-free-sessions', 'Crash-free sessions', freeSessions, fmtShare(freeSessions)),
    figure(
      'crash-free-users',
      'Crash-free users',
      freeUsers,
      fmtShare(freeUsers),
      'of users the app identified',
    ),
    figure('anr-sessions', 'Sessions with an ANR or hang', anrShare, fmtShare(anrShare)),
    figure('cold-start-p75', 'Cold start · p75', cold, ms(cold)),
    figure('warm-start-p75', 'Warm start · p75', warm, ms(warm)),
    el(
      'div',
      { class: 'card', 'data-testid': 'slowest-screen', 'data-screen': fmtCell(slowScreen) },
      el('div', { class: 'metric-name' }, 'Slowest screen · p75'),
      el(
        'div',
        { class: 'metric-value', 'data-raw': slowP75 === null ? '' : String(slowP75) },
        ms(slowP75),
      ),
      el('div', { class: 'bar-legend' }, slowScreen === null ? '–' : fmtCell(slowScreen)),
    ),
  );
}

/** A copy of a result with some columns renamed for display. */
function renamed(res: QueryResult, names: Record<string, string>): QueryResult {
  return { columns: res.columns.map((c) => names[c] ?? c), rows: res.rows };
}
/** A result with one more column, computed from each row. */
function withColumn(res: QueryResult, name: string, f: (row: Cell[]) => Cell): QueryResult {
  return { columns: [...res.columns, name], rows: res.rows.map((r) => [...r, f(r)]) };
}
const card = (title: string, ...body: (HTMLElement | string | null)[]) =>
  el('div', { class: 'card' }, el('h3', {}, title), ...body);

/** A select whose choice is a URL parameter (absent for the first option). */
function urlSelect(
  name: string,
  label: string,
  testid: string,
  options: [string, string][],
  value: string,
) {
  const s = el('select', { name, 'data-testid': testid });
  for (const [v, label] of options) {
    const o = el('option', { value: v }, label);
    if (v === value) o.selected = true;
    s.append(o);
  }
  s.addEventListener('change', () =>
    navigate(href('/mobile', { [name]: s.value === options[0][0] ? null : s.value })),
  );
  return el('label', {}, label, s);
}

/** p75 over time, one line per value of `key` (gaps where a bucket has none). */
function p75Lines(target: HTMLElement, res: QueryResult, key: string, [from, to]: number[]) {
  const t = col(res, 'time'),
    k = col(res, key),
    v = col(res, 'p75');
  const times = [...new Set(res.rows.map((r) => Number(r[t])))].sort((a, b) => a - b);
  const at = new Map(times.map((x, i) => [x, i]));
  const names = [...new Set(res.rows.map((r) => fmtCell(r[k])))];
  const lines = names.map((n) => {
    const ys: (number | null)[] = times.map(() => null);
    for (const r of res.rows) {
      const i = at.get(Number(r[t]));
      if (fmtCell(r[k]) === n && i !== undefined) ys[i] = r[v] as number | null;
    }
    return ys;
  });
  const COLORS = ['#2a5bd7', '#e67e22', '#16a085', '#8e44ad'];
  plot(
    target,
    {
      height: 240,
      series: [
        {},
        ...names.map((n, i) => ({
          label: n,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          value: (_u: unknown, y: number | null) => ms(y),
        })),
      ],
      axes: [{}, { size: 70, values: (_u, ys) => ys.map((y) => ms(y)) }],
      scales: { x: { time: true, range: (): [number, number] => [from / 1000, to / 1000] } },
    },
    [times.map((x) => x / 1000), ...lines],
  );
}

async function startsSection({ pid, range, starts }: Shared): Promise<Section> {
  const { from, to, bucket } = range;
  const type = param('start', 'cold', START_TYPES);
  const by = (...dims: string[]) =>
    query(pid, {
      metric: 'app_starts.duration',
      aggregations: ['count', 'p50', 'p75', 'p90'],
      filters: [{ field: 'start_type', op: 'eq', value: type }],
      group_by: dims,
      from,
      to,
      order_by: 'count',
      ascending: false,
      limit: TOP,
    });
  const [byType, byOs, byDevice, byVersion, series] = await Promise.all([
    starts,
    // an OS version means little without its OS (Android 14, iOS 17.5)
    by('os', 'os_version'),
    by('device_model'),
    by('app_version'),
    query(pid, {
      metric: 'app_starts.duration',
      aggregations: ['p75'],
      group_by: ['start_type', bucket],
      from,
      to,
      limit: 10000,
    }),
  ]);
  const chartBox = el('div', { 'data-testid': 'starts-chart' });
  const dimTable = (res: QueryResult, dim: string, title: string) =>
    card(
      `${title} (${type} starts, the ${TOP} most frequent)`,
      table(renamed(res, { count: 'starts' }), { testid: `starts-by-${dim}`, fmt: MS_COLS }),
    );
  return {
    nodes: [
      card(
        'Start time by start type',
        table(renamed(byType, { count: 'starts' }), { testid: 'starts-by-type', fmt: MS_COLS }),
      ),
      card(
        'p75 start time over time',
        series.rows.length ? chartBox : emptyNote('starts-chart-empty'),
      ),
      el(
        'div',
        { class: 'controls' },
        urlSelect(
          'start',
          'start type',
          'start-type',
          START_TYPES.map((t) => [t, t]),
          type,
        ),
      ),
      dimTable(byOs, 'os_version', 'By OS version'),
      dimTable(byDevice, 'device_model', 'By device model'),
      dimTable(byVersion, 'app_version', 'By app version'),
    ],
    chart: series.rows.length
      ? () => p75Lines(chartBox, series, 'start_type', [from, to])
      : undefined,
  };
}

async function screensSection({ screens }: Shared): Promise<Section> {
  const res = await screens;
  return {
    nodes: [
      card(
        'Screens, slowest first (time until drawn; click a header to sort)',
        res.rows.length >= SCREEN_LIMIT
          ? el(
              'p',
              { class: 'empty', 'data-testid': 'truncated' },
              `Showing the ${SCREEN_LIMIT} slowest screens.`,
            )
          : null,
        table(sortRows(renamed(res, { count: 'loads' })), {
          testid: 'slowest-screens',
          sortable: true,
          fmt: MS_COLS,
        }),
      ),
    ],
  };
}

async function stabilitySection({
  pid,
  range: { from, to, bucket },
  loads,
}: Shared): Promise<Section> {
  const r = { from, to, limit: 1000 };
  const overTime = (metric: string) =>
    query(pid, { metric, aggregations: ['count'], group_by: [bucket], from, to, limit: 10000 });
  const [rendering, crashSeries, anrSeries, crashedBy, sessionsBy, anrsByOs, sessionsByOs] =
    await Promise.all([
      renderingCard(pid, from, to, loads),
      overTime('crashes'),
      overTime('anrs'),
      query(pid, {
        metric: 'crashes',
        aggregations: ['sessions'],
        group_by: ['app_version'],
        ...r,
      }),
      query(pid, {
        metric: 'screen_loads',
        aggregations: ['sessions'],
        group_by: ['app_version'],
        ...r,
        limit: TOP,
      }),
      query(pid, {
        metric: 'anrs.duration',
        aggregations: ['count', 'sessions', 'p75'],
        group_by: ['os'],
        ...r,
      }),
      query(pid, { metric: 'screen_loads', aggregations: ['sessions'], group_by: ['os'], ...r }),
    ]);
  // one result with a line per kind, as countLines draws them
  const series: QueryResult = {
    columns: ['kind', 'time', 'count'],
    rows: [
      ...crashSeries.rows.map((row) => ['crashes', ...row]),
      ...anrSeries.rows.map((row) => ['ANRs and hangs', ...row]),
    ],
  };
  const byVersion = withColumn(
    joinOn(
      'app_version',
      [
        [sessionsBy, 'sessions', 'sessions'],
        [crashedBy, 'sessions', 'crashed sessions'],
      ],
      { 'crashed sessions': 0 },
    ),
    'crash-free sessions',
    (row) => crashFree(row[2], row[1]),
  );
  const byOs = withColumn(
    joinOn(
      'os',
      [
        [sessionsByOs, 'sessions', 'sessions'],
        [anrsByOs, 'count', 'ANRs and hangs'],
        [anrsByOs, 'sessions', 'sessions with one'],
        [anrsByOs, 'p75', 'p75 blocked'],
      ],
      { 'ANRs and hangs': 0, 'sessions with one': 0 },
    ),
    'share of sessions',
    (row) => share(row[3], row[1]),
  );
  const chartBox = el('div', { 'data-testid': 'stability-chart' });
  return {
    nodes: [
      card(
        'Crashes and ANRs over time',
        series.rows.length ? chartBox : emptyNote('stability-chart-empty'),
      ),
      card(
        `Crash-free sessions by app version (the ${TOP} with most sessions)`,
        table(byVersion, {
          testid: 'crash-free-by-version',
          fmt: { 'crash-free sessions': fmtShare },
        }),
      ),
      card(
        'ANRs (Android) and hangs (iOS) by OS',
        el('p', { class: 'muted' }, 'p75 blocked: how long the main thread did not respond.'),
        table(byOs, { testid: 'anrs-by-os', fmt: { ...MS_COLS, 'share of sessions': fmtShare } }),
      ),
      rendering,
    ],
    chart: () => countLines(series.rows.length ? chartBox : null, series, 'kind', [from, to]),
  };
}

/**
 * Slow and frozen frames (`janks`): by screen, the frames and the sessions that had one, and
 * the share of mobile sessions with a frozen frame. A jank without a threshold is neither.
 */
async function renderingCard(
  pid: number,
  from: number,
  to: number,
  loads: Promise<QueryResult>,
): Promise<HTMLElement> {
  const frozen = { field: 'threshold', op: 'gte', value: FROZEN_MS };
  const slow = { field: 'threshold', op: 'lt', value: FROZEN_MS };
  // a period without a slow frame affects no session
  const some = { field: 'frame_count', op: 'gt', value: 0 };
  const byScreen = (kind: typeof slow) =>
    query(pid, {
      metric: 'janks.frame_count',
      aggregations: ['sum', 'sessions'],
      filters: [kind, some],
      group_by: ['page_path'],
      from,
      to,
      order_by: 'sum',
      ascending: false,
      limit: TOP,
    });
  const [slowBy, frozenBy, frozenSessions, all] = await Promise.all([
    byScreen(slow),
    byScreen(frozen),
    query(pid, {
      metric: 'janks',
      aggregations: ['sessions'],
      filters: [frozen, some],
      from,
      to,
    }),
    loads,
  ]);
  const title = 'Slow and frozen frames';
  if (!slowBy.rows.length && !frozenBy.rows.length)
    return card(
      title,
      el(
        'p',
        { class: 'empty', 'data-testid': 'janks-empty' },
        urlFilters().some(appliesHere)
          ? 'No slow or frozen frames for this range and these filters.'
          : 'No slow or frozen frames in this range.',
      ),
    );
  const n = first(frozenSessions, 'sessions'),
    of = first(all, 'sessions'),
    frozenShare = share(n, of);
  const screens = (res: QueryResult, frames: string, testid: string) =>
    table(renamed(res, { page_path: 'screen', sum: frames }), { testid });
  return card(
    title,
    el(
      'p',
      { class: 'muted' },
      `Slow frames took longer than the SDK's slow-frame threshold (16 ms) to draw, frozen ones ${FROZEN_MS} ms or more; sessions: those with at least one.`,
    ),
    el(
      'div',
      { class: 'grid' },
      figure(
        'frozen-sessions',
        'Sessions with frozen frames',
        frozenShare,
        fmtShare(frozenShare),
        `${fmtNum(n)} of ${fmtNum(of)} sessions`,
      ),
    ),
    el('h4', {}, `Slow frames by screen (the ${TOP} with most)`),
    screens(slowBy, 'slow frames', 'slow-frames-by-screen'),
    el('h4', {}, `Frozen frames by screen (the ${TOP} with most)`),
    screens(frozenBy, 'frozen frames', 'frozen-frames-by-screen'),
  );
}

/**
 * The apps' HTTP calls (requests with an `app_name`) by `dims`: how many, p75 duration and
 * the share that failed or got a status ≥ 400.
 */
async function callsBy(pid: number, dims: string[], from: number, to: number) {
  const g = { group_by: dims, from, to, limit: 1000 };
  const app = { field: 'app_name', op: 'exists', value: null };
  const failed = { field: 'failure', op: 'exists', value: null };
  const status = { field: 'status', op: 'gte', value: 400 };
  const [dur, ...errors] = await Promise.all([
    query(pid, {
      metric: 'requests.duration',
      aggregations: ['count', 'p75'],
      filters: [app],
      ...g,
      order_by: 'count',
      ascending: false,
    }),
    // a failed call that also has a status ≥ 400 counts once: status + failed − both
    ...[[status], [failed], [status, failed]].map((f) =>
      query(pid, { metric: 'requests', aggregations: ['count'], filters: [app, ...f], ...g }),
    ),
  ]);
  const key = (res: QueryResult, r: Cell[]) => JSON.stringify(dims.map((d) => r[col(res, d)]));
  const [bad, fail, both] = errors.map(
    (res) => new Map(res.rows.map((r) => [key(res, r), Number(r[col(res, 'count')])])),
  );
  const n = col(dur, 'count'),
    p = col(dur, 'p75');
  const res: QueryResult = {
    columns: [...dims, 'calls', 'p75 duration', 'error share'],
    rows: dur.rows.map((r) => {
      const k = key(dur, r);
      const bads = (bad.get(k) ?? 0) + (fail.get(k) ?? 0) - (both.get(k) ?? 0);
      return [...dims.map((d) => r[col(dur, d)]), r[n], r[p], share(bads, r[n])];
    }),
  };
  return res;
}

async function networkSection({ pid, range: { from, to } }: Shared): Promise<Section> {
  const [byCarrier, byConnection] = await Promise.all([
    callsBy(pid, ['carrier'], from, to),
    callsBy(pid, ['connection_type', 'effective_type'], from, to),
  ]);
  const fmt = { ...MS_COLS, 'error share': fmtShare };
  return {
    nodes: [
      el(
        'p',
        { class: 'muted' },
        "The apps' HTTP calls. Error share: failed (no answer) or status ≥ 400, of all calls.",
      ),
      card('By carrier', table(byCarrier, { testid: 'calls-by-carrier', fmt })),
      card(
        'By connection (effective type: the radio, e.g. LTE or NR)',
        table(byConnection, { testid: 'calls-by-connection', fmt }),
      ),
    ],
  };
}

async function crashesSection({ pid, range: { from, to } }: Shared): Promise<Section> {
  const order = param(
    'sort',
    'users',
    CRASH_ORDERS.map(([o]) => o),
  );
  const state = param(
    'state',
    'unresolved',
    STATES.map(([s]) => s),
  ) as GroupState | 'all';
  const { groups } = await crashGroups(pid, {
    from,
    to,
    order_by: order,
    state,
    limit: GROUP_LIMIT,
  });
  return {
    nodes: [
      card(
        'Crash groups',
        el(
          'div',
          { class: 'controls' },
          urlSelect('sort', 'sort by', 'crash-sort', CRASH_ORDERS, order),
          urlSelect('state', 'state', 'crash-state', STATES, state),
        ),
        crashTable(groups),
        groups.length >= GROUP_LIMIT
          ? el(
              'p',
              { class: 'empty', 'data-testid': 'truncated' },
              `Showing the first ${GROUP_LIMIT} groups in this order.`,
            )
          : null,
      ),
    ],
  };
}

function crashTable(groups: CrashGroup[]): HTMLElement {
  if (!groups.length) return emptyNote('crash-groups-empty');
  const num = (v: number) => el('td', { class: 'num', 'data-raw': String(v) }, fmtNum(v));
  const rows = groups.map((g) =>
    el(
      'tr',
      { 'data-fingerprint': g.fingerprint, 'data-state': g.state },
      el(
        'td',
        { class: 'wrap issue' },
        el(
          'div',
          { class: 'issue-title' },
          link(groupTitle(g), href('/mobile', { crash: g.fingerprint }), 'group-link'),
          ' ',
          groupBadges(g),
        ),
        g.culprit ? el('div', { class: 'culprit' }, g.culprit) : null,
      ),
      num(g.events),
      num(g.users),
      num(g.sessions),
      el(
        'td',
        { title: fmtTime(g.last_seen), 'data-raw': String(g.last_seen) },
        fmtAgo(g.last_seen),
      ),
      el('td', {}, g.last_release ?? '–'),
      el(
        'td',
        { class: 'trend-cell' },
        sparkline(g.series, `${fmtNum(g.events)} crashes over the range`),
      ),
    ),
  );
  // the CSV carries the raw values, one column each
  const csv: QueryResult = {
    columns: [
      'fingerprint',
      'error_type',
      'message',
      'culprit',
      'events',
      'users',
      'sessions',
      'first_seen',
      'last_seen',
      'last_release',
      'state',
    ],
    rows: groups.map((g) => [
      g.fingerprint,
      g.error_type,
      g.message,
      g.culprit,
      g.events,
      g.users,
      g.sessions,
      g.first_seen,
      g.last_seen,
      g.last_release,
      g.state,
    ]),
  };
  return el(
    'div',
    { class: 'table-box' },
    csvButton(csv, 'crash-groups'),
    el(
      'table',
      { 'data-testid': 'crash-groups' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...['crash', 'events', 'users', 'sessions', 'last seen', 'app version', 'trend'].map(
            (h) => el('th', { class: ['events', 'users', 'sessions'].includes(h) ? 'num' : '' }, h),
          ),
        ),
      ),
      el('tbody', {}, ...rows),
    ),
  );
}
