// Errors: how many, how many sessions and users they hit, over time by type; the error groups
// (one per fingerprint) by impact with their state, regressions and trend; the noise the
// filters dropped; failed resources by URL and page. A group opens its detail (`?fp=`).
import { api, Cell, errorGroups, ErrorSettings, first, query } from '../api';
import type { ErrorGroup, FilteredNoise, GroupState, QueryResult } from '../api';
import { countLines, sparkline } from '../charts';
import { el } from '../dom';
import { countFigure, estimated, fmtAgo, fmtNum, fmtPct, fmtTime } from '../format';
import { csvButton, emptyNote, table } from '../tables';
import { href, link, navigate, param, Range } from '../url';
import { errorGroupView } from './error-group';
import { groupBadges, groupTitle } from './group';

/** Error types drawn as their own line; the rest are summed in the total. */
const TOP_TYPES = 5;
/** Groups listed. */
const GROUP_LIMIT = 100;
export const GROUP_ORDERS: [string, string][] = [
  ['impact', 'impact'],
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
const TABS: [string, string][] = [
  ['groups', 'Error groups'],
  ['resources', 'Resource failures'],
];

export async function errorsView(pid: number, box: HTMLElement, range: Range): Promise<void> {
  const fp = param('fp', '');
  if (fp) return errorGroupView(pid, fp, box, range);
  const tab = param(
    'tab',
    'groups',
    TABS.map(([t]) => t),
  );
  const tabs = el(
    'nav',
    { class: 'tabs', 'data-testid': 'errors-tabs' },
    ...TABS.map(([t, label]) =>
      link(label, href('/errors', { tab: t === 'groups' ? null : t }), t === tab ? 'active' : ''),
    ),
  );
  if (tab === 'resources') return resourceFailures(pid, box, range, tabs);
  const { from, to, bucket } = range;
  const r = { from, to };
  const order = param(
    'sort',
    'impact',
    GROUP_ORDERS.map(([o]) => o),
  );
  const stateFilter = param(
    'state',
    'unresolved',
    STATES.map(([s]) => s),
  ) as GroupState | 'all';
  const regressionsFirst = param('regressions', '') === '1';
  const [total, views, byType, list, noise] = await Promise.all([
    query(pid, {
      metric: 'errors',
      aggregations: [
        'count',
        'sessions',
        'users',
        'estimated_count',
        'estimated_sessions',
        'estimated_users',
      ],
      ...r,
    }),
    query(pid, {
      metric: 'page_views',
      aggregations: ['count', 'estimated_count', 'sessions', 'estimated_sessions'],
      ...r,
    }),
    query(pid, {
      metric: 'errors',
      aggregations: ['count'],
      group_by: ['error_type'],
      ...r,
      order_by: 'count',
      ascending: false,
      limit: TOP_TYPES,
    }),
    errorGroups(pid, {
      ...r,
      order_by: order,
      state: stateFilter,
      regressions_first: regressionsFirst,
      limit: GROUP_LIMIT,
    }),
    api<FilteredNoise>('GET', `/api/v1/errors/filtered?project=${pid}&from=${from}&to=${to}`),
  ]);
  const types = byType.rows.map((row) => row[0]).filter((t) => t !== null);
  const series = types.length
    ? await query(pid, {
        metric: 'errors',
        aggregations: ['count'],
        group_by: ['error_type', bucket],
        filters: [{ field: 'error_type', op: 'in', value: types }],
        ...r,
        limit: 10000,
      })
    : { columns: [], rows: [] };
  // errors per page view and the share of sessions hit from the estimates (they are the counts
  // where nothing is sampled)
  const count = estimated(first(total, 'count'), first(total, 'estimated_count')),
    sessions = estimated(first(total, 'sessions'), first(total, 'estimated_sessions'));
  const pv = estimated(first(views, 'count'), first(views, 'estimated_count')),
    pvSessions = estimated(first(views, 'sessions'), first(views, 'estimated_sessions'));
  const [sessionsFig, ...sessionsNote] = countFigure(
    first(total, 'sessions'),
    first(total, 'estimated_sessions'),
  );
  if (pvSessions) sessionsFig.append(` (${fmtPct(sessions / pvSessions)})`);
  const card = (testid: string, name: string, value: string | HTMLElement[]) =>
    el(
      'div',
      { class: 'card', 'data-testid': testid },
      el('div', { class: 'metric-name' }, name),
      ...(typeof value === 'string' ? [el('div', { class: 'metric-value' }, value)] : value),
    );
  const chartBox = el('div', { 'data-testid': 'errors-chart' });
  box.replaceChildren(
    el('h2', {}, 'Errors'),
    tabs,
    el(
      'div',
      { class: 'grid' },
      card(
        'errors-count',
        'Errors',
        countFigure(first(total, 'count'), first(total, 'estimated_count')),
      ),
      card('errors-rate', 'Errors per 100 page views', pv ? ((100 * count) / pv).toFixed(2) : '–'),
      card('errors-sessions', 'Sessions with an error', [sessionsFig, ...sessionsNote]),
      // User ids only (setUser); a group's "users" also counts anonymous sessions.
      card(
        'errors-users',
        'Identified users affected',
        countFigure(first(total, 'users'), first(total, 'estimated_users')),
      ),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, `Errors over time (top ${TOP_TYPES} types)`),
      series.rows.length ? chartBox : emptyNote('errors-chart-empty'),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Error groups'),
      groupControls(order, stateFilter, regressionsFirst),
      await noiseNote(pid, noise),
      groupsTable(list.groups, list.critical_pages),
      list.groups.length >= GROUP_LIMIT
        ? el(
            'p',
            { class: 'empty', 'data-testid': 'truncated' },
            `Showing the first ${GROUP_LIMIT} groups in this order.`,
          )
        : null,
    ),
  );
  countLines(series.rows.length ? chartBox : null, series, 'error_type', [from, to]);
}

/** Order, state and "regressions first": each a URL parameter (`sort`, `state`, `regressions`). */
function groupControls(order: string, stateFilter: string, regressionsFirst: boolean): HTMLElement {
  const select = (name: string, testid: string, options: [string, string][], value: string) => {
    const s = el('select', { name, 'data-testid': testid });
    for (const [v, label] of options) {
      const o = el('option', { value: v }, label);
      if (v === value) o.selected = true;
      s.append(o);
    }
    return s;
  };
  const sort = select('sort', 'group-sort', GROUP_ORDERS, order);
  const state = select('state', 'group-state', STATES, stateFilter);
  const regressions = el('input', {
    type: 'checkbox',
    name: 'regressions',
    'data-testid': 'group-regressions',
  });
  regressions.checked = regressionsFirst;
  const go = () =>
    navigate(
      href('/errors', {
        sort: sort.value === 'impact' ? null : sort.value,
        state: state.value === 'unresolved' ? null : state.value,
        regressions: regressions.checked ? '1' : null,
      }),
    );
  for (const c of [sort, state, regressions]) c.addEventListener('change', go);
  return el(
    'div',
    { class: 'controls' },
    el('label', {}, 'sort by', sort),
    el('label', {}, 'state', state),
    el('label', { class: 'inline' }, regressions, 'regressions first'),
  );
}

const NOISE_REASONS: Record<string, string> = {
  extension: 'from browser extensions',
  script_error: '"Script error." without a stack',
};
/** "N errors filtered as noise: …", with the ignore rules named (their patterns from the settings). */
async function noiseNote(pid: number, noise: FilteredNoise): Promise<HTMLElement | null> {
  if (!noise.total) return null;
  const byReason = new Map<string, number>();
  for (const c of noise.counts) byReason.set(c.reason, (byReason.get(c.reason) ?? 0) + c.count);
  let rules: ErrorSettings['ignore_rules'] = [];
  if ([...byReason.keys()].some((k) => k.startsWith('rule:')))
    rules =
      (await api<ErrorSettings>('GET', `/api/v1/errors/settings?project=${pid}`).catch(() => null))
        ?.ignore_rules ?? [];
  const label = (reason: string): string => {
    const m = /^rule:(\d+)$/.exec(reason);
    if (!m) return NOISE_REASONS[reason] ?? reason;
    const rule = rules[Number(m[1])];
    return (
      `by ignore rule ${Number(m[1]) + 1}` + (rule ? ` (${rule.field} "${rule.pattern}")` : '')
    );
  };
  const parts = [...byReason]
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${fmtNum(n)} ${label(reason)}`);
  return el(
    'p',
    { class: 'muted', 'data-testid': 'noise-note', 'data-total': String(noise.total) },
    `${fmtNum(noise.total)} ${noise.total === 1 ? 'error' : 'errors'} filtered as noise: ${parts.join(', ')}. `,
    link('Noise filters', href('/settings', { fp: null, tab: null })),
  );
}

/** The groups, one row each; the title opens the group's detail. */
function groupsTable(groups: ErrorGroup[], criticalPages: string[]): HTMLElement {
  if (!groups.length) return emptyNote('error-groups-empty');
  const th = (t: string, cls = '') => el('th', { class: cls }, t);
  const num = (v: number, extra: Record<string, string> = {}) =>
    el('td', { class: 'num', 'data-raw': String(v), ...extra }, fmtNum(v));
  const tbody = el('tbody');
  for (const g of groups) {
    tbody.append(
      el(
        'tr',
        {
          'data-fingerprint': g.fingerprint,
          'data-state': g.state,
          'data-regressed': String(g.regressed),
          'data-critical': String(g.critical_users > 0),
        },
        el(
          'td',
          { class: 'wrap issue' },
          el(
            'div',
            { class: 'issue-title' },
            link(groupTitle(g), href('/errors', { fp: g.fingerprint }), 'group-link'),
            ' ',
            groupBadges(g),
          ),
          g.culprit ? el('div', { class: 'culprit' }, g.culprit) : null,
        ),
        num(g.impact, {
          title: `${g.users} users affected, ${g.critical_users} on critical pages (counted ten times)`,
        }),
        num(g.events),
        num(g.users),
        num(g.sessions),
        el(
          'td',
          { title: fmtTime(g.first_seen), 'data-raw': String(g.first_seen) },
          fmtAgo(g.first_seen),
        ),
        el(
          'td',
          { title: fmtTime(g.last_seen), 'data-raw': String(g.last_seen) },
          fmtAgo(g.last_seen),
        ),
        el(
          'td',
          { class: 'trend-cell' },
          sparkline(g.series, `${fmtNum(g.events)} events over the range`),
        ),
      ),
    );
  }
  // the CSV carries the raw values, one column each
  const csv: QueryResult = {
    columns: [
      'fingerprint',
      'error_type',
      'message',
      'culprit',
      'impact',
      'events',
      'users',
      'sessions',
      'critical_users',
      'first_seen',
      'last_seen',
      'state',
      'regressed',
    ],
    rows: groups.map(
      (g) =>
        [
          g.fingerprint,
          g.error_type,
          g.message,
          g.culprit,
          g.impact,
          g.events,
          g.users,
          g.sessions,
          g.critical_users,
          g.first_seen,
          g.last_seen,
          g.state,
          g.regressed,
        ] as Cell[],
    ),
  };
  return el(
    'div',
    { class: 'table-box' },
    csvButton(csv, 'error-groups'),
    el(
      'table',
      { 'data-testid': 'error-groups' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          th('error'),
          th('impact', 'num'),
          th('events', 'num'),
          th('users', 'num'),
          th('sessions', 'num'),
          th('first seen'),
          th('last seen'),
          th('trend'),
        ),
      ),
      tbody,
    ),
    criticalPages.length
      ? el(
          'p',
          { class: 'bar-legend', 'data-testid': 'critical-pages' },
          `Critical pages: ${criticalPages.join(', ')}. Impact counts each user there ten times.`,
        )
      : null,
  );
}

/** Failed resources (`resource_errors`): by URL and element, and by page. */
async function resourceFailures(
  pid: number,
  box: HTMLElement,
  { from, to }: Range,
  tabs: HTMLElement,
): Promise<void> {
  const r = { from, to, limit: 500, order_by: 'count', ascending: false };
  const [byUrl, byPage] = await Promise.all([
    query(pid, {
      metric: 'resource_errors',
      aggregations: ['count', 'sessions'],
      group_by: ['url', 'tag'],
      ...r,
    }),
    query(pid, {
      metric: 'resource_errors',
      aggregations: ['count', 'sessions'],
      group_by: ['page_path', 'url'],
      ...r,
    }),
  ]);
  box.replaceChildren(
    el('h2', {}, 'Errors'),
    tabs,
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Failed resources by URL'),
      el(
        'p',
        { class: 'muted' },
        'Images, scripts, stylesheets and media that did not load (the element fired an error event).',
      ),
      table(byUrl, { testid: 'resource-failures-url' }),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Failed resources by page'),
      table(byPage, {
        testid: 'resource-failures-page',
        linkCol: (v) => (v === null ? null : href('/page', { page: String(v), tab: null })),
      }),
    ),
  );
}
