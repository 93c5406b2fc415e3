// Errors: how many, how many sessions and users they hit, over time by type, and the list by
// type and message (full grouping by fingerprint comes with the errors work).
import { first, query } from '../api';
import { countLines } from '../charts';
import { el } from '../dom';
import { countFigure, estimated, fmtPct } from '../format';
import { emptyNote, table } from '../tables';
import { href, hrefWith, Range } from '../url';

/** Error types drawn as their own line; the rest are summed in the total. */
const TOP_TYPES = 5;

export async function errorsView(
  pid: number,
  box: HTMLElement,
  { from, to, bucket }: Range,
): Promise<void> {
  const r = { from, to };
  const [total, views, byType, list] = await Promise.all([
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
    query(pid, {
      metric: 'errors',
      aggregations: ['count', 'sessions', 'users'],
      group_by: ['error_type', 'message'],
      ...r,
      order_by: 'count',
      ascending: false,
      limit: 200,
    }),
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
      card(
        'errors-users',
        'Users affected',
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
      el('h3', {}, 'By type and message'),
      table(list, {
        testid: 'errors-table',
        linkCol: (v) => (v === null ? null : hrefWith('/errors', 'error_type', v)),
        // from an error to the sessions it hit, and their timelines
        links: {
          sessions: (row) =>
            href('/sessions', {
              error_type: String(row[0] ?? ''),
              error_message: String(row[1] ?? ''),
              sort: null,
              dir: null,
            }),
        },
      }),
    ),
  );
  countLines(series.rows.length ? chartBox : null, series, 'error_type', [from, to]);
}
