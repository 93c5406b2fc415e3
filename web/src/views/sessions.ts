// Sessions: the searchable list and one session's timeline.
import { api, Cell, col, QueryResult } from '../api';
import { el } from '../dom';
import { fmtCell, fmtDuration, fmtMetric, fmtOffset, fmtSessionId, fmtTime } from '../format';
import { table } from '../tables';
import { Filter, filtersFor, href, hrefTo, link, navigate, param, Range, traceHref } from '../url';
import { replayCard } from './session-replay';

type SessionEvent = Record<string, Cell>;
const SESSION_ORDERS = ['start', 'duration', 'views', 'errors'];
/** Answer columns of POST /api/v1/sessions → the list's headers (the four orders are sortable by the server). */
const SESSION_COLUMNS: [string, string][] = [
  ['session_id', 'session'],
  ['start', 'start'],
  ['duration', 'duration'],
  ['views', 'views'],
  ['errors', 'errors'],
  ['user_id', 'user'],
  ['country', 'country'],
  ['device_type', 'device'],
  ['browser', 'browser'],
  ['os', 'os'],
  ['has_replay', 'replay'],
];
const REPLAY_COLUMN = SESSION_COLUMNS.findIndex(([c]) => c === 'has_replay');
export async function sessionsView(
  pid: number,
  box: HTMLElement,
  { from, to }: Range,
): Promise<void> {
  const sid = param('session', '');
  if (sid) return sessionTimeline(pid, sid, box);
  const input = (name: string, label: string, attrs: Record<string, string> = {}) => {
    const i = el('input', { name, 'data-testid': `session-${name}`, ...attrs });
    if (attrs.type === 'checkbox') i.checked = param(name, '') === '1';
    else i.value = param(name, '');
    return [i, el('label', {}, label, i)] as const;
  };
  const [user, userL] = input('user', 'user contains', { placeholder: 'user id' });
  const [country, countryL] = input('country', 'country', { placeholder: 'e.g. DE', size: '6' });
  const [hasError, hasErrorL] = input('has_error', 'has error', { type: 'checkbox', value: '1' });
  const [hasReplay, hasReplayL] = input('has_replay', 'has replay', {
    type: 'checkbox',
    value: '1',
  });
  const [minS, minL] = input('min_s', 'min duration (s)', {
    type: 'number',
    min: '0',
    step: 'any',
    size: '6',
  });
  const [maxS, maxL] = input('max_s', 'max duration (s)', {
    type: 'number',
    min: '0',
    step: 'any',
    size: '6',
  });
  const device = el('select', { name: 'device', 'data-testid': 'session-device' });
  for (const d of ['', 'desktop', 'mobile', 'tablet']) {
    const o = el('option', { value: d }, d || 'any');
    if (param('device', '') === d) o.selected = true;
    device.append(o);
  }
  const form = el(
    'form',
    { class: 'controls', 'data-testid': 'session-search' },
    userL,
    countryL,
    el('label', {}, 'device', device),
    hasErrorL,
    hasReplayL,
    minL,
    maxL,
    el('button', { type: 'submit' }, 'Search'),
    link(
      'Reset',
      href('/sessions', {
        user: null,
        country: null,
        device: null,
        has_error: null,
        has_replay: null,
        min_s: null,
        max_s: null,
      }),
    ),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    navigate(
      href('/sessions', {
        user: user.value || null,
        country: country.value.trim().toUpperCase() || null,
        device: device.value || null,
        has_error: hasError.checked ? '1' : null,
        has_replay: hasReplay.checked ? '1' : null,
        min_s: minS.value || null,
        max_s: maxS.value || null,
      }),
    );
  });
  const search: Filter[] = [];
  if (user.value) search.push({ field: 'user_id', op: 'contains', value: user.value });
  if (country.value) search.push({ field: 'country', op: 'eq', value: country.value });
  if (device.value) search.push({ field: 'device_type', op: 'eq', value: device.value });
  const seconds = (v: string) =>
    v !== '' && isFinite(Number(v)) ? Math.round(Number(v) * 1000) : undefined;
  const body = {
    from,
    to,
    filters: [...filtersFor('views'), ...search],
    has_error: hasError.checked || undefined,
    has_replay: hasReplay.checked || undefined,
    min_duration: seconds(minS.value),
    max_duration: seconds(maxS.value),
    order_by: param('sort', 'start', SESSION_ORDERS),
    ascending: param('dir', 'desc') === 'asc',
    limit: 100,
  };
  // from the Errors view: only sessions that had this error
  const errType = param('error_type', ''),
    errMessage = param('error_message', ''),
    errGroup = param('error_fp', '');
  const errorFilters: Filter[] = [];
  if (errType) errorFilters.push({ field: 'error_type', op: 'eq', value: errType });
  if (errMessage) errorFilters.push({ field: 'message', op: 'eq', value: errMessage });
  if (errGroup) errorFilters.push({ field: 'fingerprint', op: 'eq', value: errGroup });
  const withError = errorFilters.length
    ? el(
        'p',
        { class: 'controls', 'data-testid': 'session-error' },
        'Sessions with the error ',
        [errType, errMessage].some((x) => x)
          ? el('strong', {}, [errType, errMessage].filter((x) => x).join(': '))
          : '',
        errGroup ? link(`group ${errGroup.slice(0, 12)}`, hrefTo('/errors', { fp: errGroup })) : '',
        ' ',
        link(
          'show all sessions',
          href('/sessions', { error_type: null, error_message: null, error_fp: null }),
        ),
      )
    : null;
  const res = await api<QueryResult>('POST', `/api/v1/sessions?project=${pid}`, {
    ...body,
    error_filters: errorFilters,
  });
  const list: QueryResult = {
    columns: SESSION_COLUMNS.map(([, label]) => label),
    rows: res.rows.map((r) => SESSION_COLUMNS.map(([c]) => r[col(res, c)] ?? null)),
  };
  box.replaceChildren(
    el('h2', {}, 'Sessions'),
    form,
    withError ?? '',
    el(
      'div',
      { class: 'card' },
      res.rows.length >= body.limit
        ? el(
            'p',
            { class: 'empty', 'data-testid': 'truncated' },
            `Showing the first ${body.limit} sessions in this order.`,
          )
        : null,
      table(list, {
        testid: 'sessions-table',
        sortable: SESSION_ORDERS,
        fmt: {
          session: (v) => fmtSessionId(String(v)),
          start: fmtTime,
          duration: fmtDuration,
          replay: (v) => (v === true ? '▶ replay' : ''),
        },
        linkCol: (v) => (v === null ? null : href('/sessions', { session: String(v) })),
        links: {
          replay: (row) =>
            row[REPLAY_COLUMN] === true ? href('/sessions', { session: String(row[0]) }) : null,
        },
      }),
    ),
  );
}

/** One line per event type: what a person reads first; every field stays in the expandable details. */
const SUMMARIES: Record<string, (e: SessionEvent) => Cell[]> = {
  views: (e) => [
    e.page_path,
    e.ttfb != null ? `· TTFB ${fmtMetric('ttfb', e.ttfb)}` : null,
    e.load != null ? `· load ${fmtMetric('load', e.load)}` : null,
  ],
  vitals: (e) => [e.name, fmtMetric(String(e.name).toLowerCase(), e.value), e.rating],
  errors: (e) => [`${String(e.error_type)}:`, e.message],
  requests: (e) => [
    e.method,
    e.url_template ?? e.url,
    e.status ?? e.failure,
    fmtMetric('duration', e.duration),
  ],
  actions: (e) => [e.action, e.selector ?? e.form],
  routes: (e) => [e.from_url, '→', e.to_url],
  custom_events: (e) => [e.name, e.value],
  resources: (e) => [e.url, fmtMetric('duration', e.duration)],
  resource_errors: (e) => [e.tag, e.url],
  long_tasks: (e) => [e.kind, fmtMetric('duration', e.duration)],
};
const summary = (e: SessionEvent): string =>
  (SUMMARIES[String(e.type)]?.(e) ?? [])
    .filter((p) => p !== null && p !== undefined && p !== '')
    .join(' ');

async function sessionTimeline(pid: number, sid: string, box: HTMLElement): Promise<void> {
  const s = await api<{ session_id: string; events: SessionEvent[] }>(
    'GET',
    `/api/v1/sessions/${encodeURIComponent(sid)}?project=${pid}`,
  );
  const back = link('← all sessions', href('/sessions', { session: null, t: null }));
  const evs = s.events;
  if (!evs.length) {
    box.replaceChildren(
      el('h2', {}, 'Session ', el('code', {}, s.session_id)),
      back,
      el(
        'p',
        { class: 'empty', 'data-testid': 'session-empty' },
        'No events of this session in this project.',
      ),
    );
    return;
  }
  const t0 = Number(evs[0].ts),
    t1 = Number(evs[evs.length - 1].ts);
  const firstOf = (k: string): Cell =>
    evs.find((e) => e[k] !== undefined && e[k] !== null)?.[k] ?? null;
  const counts = new Map<string, number>();
  for (const e of evs) counts.set(String(e.type), (counts.get(String(e.type)) ?? 0) + 1);
  const facts: [string, string][] = [
    ['user', fmtCell(firstOf('user_id'))],
    ['country', fmtCell(firstOf('country'))],
    ['device', fmtCell(firstOf('device_type'))],
    ['browser / os', `${fmtCell(firstOf('browser'))} / ${fmtCell(firstOf('os'))}`],
    ['start', fmtTime(t0)],
    ['duration', fmtDuration(t1 - t0)],
    ['events', [...counts].map(([t, n]) => `${n} ${t}`).join(', ')],
  ];
  const header = el(
    'dl',
    { class: 'facts', 'data-testid': 'session-facts' },
    ...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-fact': k }, v)]),
  );
  const tbody = el('tbody');
  for (const e of evs) {
    const raw = el(
      'dl',
      { class: 'fields' },
      ...Object.entries(e).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, fmtCell(v))]),
    );
    tbody.append(
      el(
        'tr',
        { 'data-type': String(e.type), 'data-ts': String(e.ts) },
        el('td', { class: 'num', title: fmtTime(Number(e.ts)) }, fmtOffset(Number(e.ts) - t0)),
        el('td', {}, el('span', { class: `badge badge-${String(e.type)}` }, String(e.type))),
        el('td', { class: 'wrap' }, fmtCell(e.page_path ?? null)),
        el(
          'td',
          { class: 'wrap' },
          el(
            'div',
            { class: 'summary' },
            summary(e),
            // An error opens its group: the symbolicated stack, why grouped, who else.
            e.type === 'errors' && typeof e.fingerprint === 'string'
              ? el(
                  'span',
                  {},
                  ' · ',
                  link(
                    'error group',
                    hrefTo('/errors', { fp: e.fingerprint }),
                    'session-error-group',
                  ),
                )
              : null,
            // A traced request opens its trace: the backend's spans under the page's call.
            e.type === 'requests' && typeof e.trace_id === 'string'
              ? el(
                  'span',
                  {},
                  ' · ',
                  link('trace', traceHref(e.trace_id, Number(e.ts)), 'session-trace'),
                )
              : null,
          ),
          el('details', {}, el('summary', {}, 'all fields'), raw),
        ),
      ),
    );
  }
  const replay = el('div', { class: 'card', 'data-testid': 'replay-card' });
  box.replaceChildren(
    el('h2', {}, 'Session ', el('code', { 'data-testid': 'session-id' }, s.session_id)),
    back,
    el('div', { class: 'card' }, header),
    replay,
    el(
      'div',
      { class: 'card' },
      el(
        'table',
        { 'data-testid': 'session-events' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            el('th', { class: 'num' }, 'time'),
            el('th', {}, 'type'),
            el('th', {}, 'page'),
            el('th', {}, 'what happened'),
          ),
        ),
        tbody,
      ),
    ),
  );
  // not awaited: the timeline is ready without it, and a long replay may take a while
  void replayCard(pid, sid, replay, evs, tbody);
}
