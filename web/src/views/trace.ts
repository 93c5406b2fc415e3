// One trace as a waterfall (/traces?trace=): the page's request on top, the backend's spans
// below it, the critical path marked and its slowest span named; a span's details and logs.
import { HttpError, isTraceId, trace } from '../api';
import type { Attrs, AttrValue, SpanEvent, Trace, TraceLog, TraceSpan } from '../api';
import { el } from '../dom';
import { fmtMs, fmtTime } from '../format';
import { href, hrefTo, link, param } from '../url';

/** One colour per service, in the order the trace names them (its first span's). */
const SERVICE_COLORS = [
  '#2a5bd7',
  '#e67e22',
  '#16a085',
  '#8e44ad',
  '#7f8c8d',
  '#d4a017',
  '#e84393',
  '#34495e',
  '#1abc9c',
  '#a0522d',
];
const colorOf = (t: Trace, service: string): string => {
  const i = t.services.indexOf(service);
  return SERVICE_COLORS[(i < 0 ? t.services.length : i) % SERVICE_COLORS.length];
};

/** An integer `from`/`to` of the URL (the hour around the request the trace was opened from). */
function bound(name: string): number | null {
  const v = Number(param(name, ''));
  return param(name, '') !== '' && Number.isSafeInteger(v) ? v : null;
}

export async function traceView(pid: number, box: HTMLElement): Promise<void> {
  const id = param('trace', '').trim().toLowerCase();
  const head = el('h2', {}, 'Trace ', id ? el('code', { 'data-testid': 'trace-id' }, id) : null);
  if (!isTraceId(id)) {
    box.replaceChildren(
      head,
      el(
        'p',
        { class: 'empty', 'data-testid': 'trace-invalid' },
        id
          ? 'This is not a trace id: a trace id is 32 hexadecimal digits.'
          : "No trace chosen. Open one from a request in a session's timeline, the Network view or the Services view.",
      ),
    );
    return;
  }
  const from = bound('from'),
    to = bound('to');
  let t: Trace;
  try {
    t = await trace(pid, id, from, to);
  } catch (e) {
    if (!(e instanceof HttpError && e.status === 404)) throw e;
    box.replaceChildren(
      head,
      el(
        'div',
        { class: 'card', 'data-testid': 'trace-not-found' },
        el('h3', {}, 'Trace not found'),
        el(
          'p',
          {},
          `Nothing of this trace is stored in this project${
            from !== null && to !== null
              ? ` between ${fmtTime(from, true)} and ${fmtTime(to, true)}`
              : ''
          }. The backend may not send its spans to Vigil, may not have kept this trace (sampling), or it is older than the project's retention.`,
        ),
      ),
    );
    return;
  }
  const byId = new Map(t.spans.map((s) => [s.span_id, s]));
  const slowest = t.slowest_span_id ? byId.get(t.slowest_span_id) : undefined;
  // the selected span is URL state (shareable); selecting one redraws only its details
  let selected = byId.get(param('span', '')) ?? slowest ?? t.spans[0];
  const details = el('div', { class: 'card', 'data-testid': 'span-details' });
  const rows: HTMLButtonElement[] = [];
  const select = (s: TraceSpan | undefined) => {
    if (!s) return;
    selected = s;
    history.replaceState(null, '', href(location.pathname, { span: s.span_id }));
    for (const r of rows) {
      const on = r.dataset.spanId === s.span_id;
      r.classList.toggle('selected', on);
      r.setAttribute('aria-pressed', String(on));
    }
    details.replaceChildren(...spanDetails(t, s));
  };
  const spanLink = (s: TraceSpan, text: string) => {
    const b = el('button', { type: 'button', class: 'linklike' }, text);
    b.addEventListener('click', () => {
      select(s);
      details.scrollIntoView({ block: 'nearest' });
    });
    return b;
  };

  const facts: [string, Node | string][] = [
    ['started', fmtTime(t.start)],
    ['duration', fmtMs(t.duration)],
    ['spans', String(t.spans.length)],
    [
      'services',
      el(
        'span',
        { class: 'services' },
        ...t.services.map((s) => serviceLabel(s, colorOf(t, s), 'trace-service')),
      ),
    ],
  ];
  if (t.session_id)
    facts.push([
      'session',
      link(t.session_id, hrefTo('/sessions', { session: t.session_id }), 'trace-session'),
    ]);
  box.replaceChildren(
    head,
    el(
      'div',
      { class: 'card' },
      el(
        'dl',
        { class: 'facts', 'data-testid': 'trace-facts' },
        ...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-fact': k }, v)]),
      ),
      t.session_id
        ? el(
            'p',
            {},
            link('Open the session', hrefTo('/sessions', { session: t.session_id })),
            ' that made this request: its pages, clicks, errors and other requests.',
          )
        : el('p', { class: 'muted' }, 'No monitored session is known for this trace.'),
      t.truncated
        ? el(
            'p',
            { class: 'sampled', 'data-testid': 'trace-truncated' },
            'This trace is larger than one answer holds: only the first 10,000 spans and 1,000 log records are shown.',
          )
        : null,
    ),
    slowest
      ? el(
          'p',
          { class: 'slowest-note', 'data-testid': 'trace-slowest' },
          'Slowest on the critical path: ',
          spanLink(slowest, `${slowest.service} ${slowest.name}`),
          `, ${fmtMs(slowest.critical_self_time)} of its own`,
        )
      : '',
    waterfall(t, rows, select),
    details,
    logsCard(t, byId, spanLink),
  );
  select(selected);
}

function serviceLabel(service: string, color: string, testid?: string): HTMLElement {
  const dot = el('span', { class: 'swatch' });
  dot.style.background = color;
  return el(
    'span',
    { class: 'service', ...(testid ? { 'data-testid': testid } : {}) },
    dot,
    service,
  );
}

/** Rows in the answer's order (depth first), indented by depth, bars against the trace's duration. */
function waterfall(
  t: Trace,
  rows: HTMLButtonElement[],
  select: (s: TraceSpan) => void,
): HTMLElement {
  const total = t.duration > 0 ? t.duration : 1;
  const pct = (v: number) => `${Math.min(100, Math.max(0, (v / total) * 100))}%`;
  const ticks = el('div', { class: 'wf-track wf-ticks' });
  for (const q of [0, 0.25, 0.5, 0.75, 1]) {
    const tick = el('span', { class: 'wf-tick' }, fmtMs(t.duration * q));
    tick.style.left = `${q * 100}%`;
    ticks.append(tick);
  }
  const list = el('div', { class: 'waterfall', 'data-testid': 'waterfall' });
  list.append(
    el(
      'div',
      { class: 'wf-head' },
      el('span', {}, 'service · operation'),
      ticks,
      el('span', { class: 'num' }, 'duration'),
    ),
  );
  for (const s of t.spans) {
    const color = colorOf(t, s.service);
    const bar = el('span', { class: 'wf-bar' });
    bar.style.left = pct(s.offset);
    bar.style.width = pct(s.duration);
    bar.style.background = color;
    const slowest = s.span_id === t.slowest_span_id;
    const label = el(
      'span',
      { class: 'wf-label' },
      serviceLabel(s.service, color),
      el('span', { class: 'wf-name' }, s.name),
      s.http_status !== null ? el('span', { class: 'muted' }, ` ${s.http_status}`) : null,
      s.status === 'error' ? el('span', { class: 'badge wf-error' }, 'error') : null,
      slowest ? el('span', { class: 'badge wf-slowest' }, 'slowest') : null,
    );
    label.style.paddingLeft = `${s.depth * 16}px`;
    const row = el(
      'button',
      {
        type: 'button',
        class: ['wf-row', s.critical ? 'critical' : '', slowest ? 'slowest' : '']
          .filter((c) => c)
          .join(' '),
        'data-testid': 'span-row',
        'data-span-id': s.span_id,
        'data-depth': String(s.depth),
        'data-service': s.service,
        'data-critical': String(s.critical),
        'aria-pressed': 'false',
        title: s.critical
          ? `On the critical path: ${fmtMs(s.critical_self_time)} of its own`
          : 'Not on the critical path',
      },
      label,
      el('span', { class: 'wf-track' }, bar),
      el('span', { class: 'num', 'data-raw': String(s.duration) }, fmtMs(s.duration)),
    );
    row.addEventListener('click', () => select(s));
    rows.push(row);
    list.append(row);
  }
  return el(
    'div',
    { class: 'card' },
    el(
      'h3',
      {},
      'Waterfall ',
      el(
        'span',
        { class: 'muted wf-legend' },
        el('span', { class: 'wf-critical-key' }),
        ' on the critical path (what the end of the trace waited on) · click a span for its details',
      ),
    ),
    list,
  );
}

const attrText = (v: AttrValue): string => (typeof v === 'string' ? v : JSON.stringify(v));
function attrList(a: Attrs, testid: string, empty: string): HTMLElement {
  const entries = a && typeof a === 'object' ? Object.entries(a) : [];
  if (!entries.length) return el('p', { class: 'muted', 'data-testid': `${testid}-empty` }, empty);
  return el(
    'dl',
    { class: 'fields', 'data-testid': testid },
    ...entries.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, attrText(v))]),
  );
}

function logsTable(
  logs: TraceLog[],
  testid: string,
  spanCell?: (l: TraceLog) => Node | string,
): HTMLElement {
  const tbody = el('tbody');
  for (const l of logs) {
    const sev = (l.severity ?? '').toLowerCase();
    tbody.append(
      el(
        'tr',
        { 'data-span-id': l.span_id ?? '' },
        el(
          'td',
          { class: 'num', title: fmtTime(l.time), 'data-raw': String(l.offset) },
          `+${fmtMs(l.offset)}`,
        ),
        el(
          'td',
          {},
          el('span', { class: `badge sev sev-${sev.replace(/[^a-z]/g, '')}` }, l.severity ?? '–'),
        ),
        el('td', {}, l.service ?? '–'),
        el('td', { class: 'wrap' }, l.body ?? ''),
        spanCell ? el('td', {}, spanCell(l)) : null,
      ),
    );
  }
  return el(
    'table',
    { 'data-testid': testid },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        el('th', { class: 'num' }, 'offset'),
        el('th', {}, 'severity'),
        el('th', {}, 'service'),
        el('th', {}, 'message'),
        spanCell ? el('th', {}, 'span') : null,
      ),
    ),
    tbody,
  );
}

function logsCard(
  t: Trace,
  byId: Map<string, TraceSpan>,
  spanLink: (s: TraceSpan, text: string) => HTMLElement,
): HTMLElement {
  return el(
    'div',
    { class: 'card' },
    el('h3', {}, `Logs of the trace (${t.logs.length})`),
    t.logs.length
      ? logsTable(t.logs, 'trace-logs', (l) => {
          const s = l.span_id ? byId.get(l.span_id) : undefined;
          return s ? spanLink(s, s.name) : '–';
        })
      : el(
          'p',
          { class: 'empty', 'data-testid': 'trace-logs-empty' },
          'No log records in this trace.',
        ),
  );
}

/** Everything about one span: what, where, status, attributes, events (exceptions) and logs. */
function spanDetails(t: Trace, s: TraceSpan): Node[] {
  const facts: [string, string][] = [
    ['service', s.service],
    ['kind', s.kind],
    ['status', s.status + (s.status_message ? ` — ${s.status_message}` : '')],
    ['http status', s.http_status === null ? '–' : String(s.http_status)],
    ['url', s.url ?? '–'],
    ['start', `+${fmtMs(s.offset)} (${fmtTime(s.start)})`],
    ['duration', fmtMs(s.duration)],
    ['critical path', s.critical ? `yes, ${fmtMs(s.critical_self_time)} of its own` : 'no'],
    ['span id', s.span_id],
    ['parent span id', s.parent_span_id ?? '– (a root)'],
    ['scope', s.scope ?? '–'],
  ];
  const logs = t.logs.filter((l) => l.span_id === s.span_id);
  const events = Array.isArray(s.events) ? s.events : [];
  return [
    el(
      'h3',
      { 'data-testid': 'span-title' },
      serviceLabel(s.service, colorOf(t, s.service)),
      ' ',
      s.name,
    ),
    el(
      'dl',
      { class: 'facts', 'data-testid': 'span-facts' },
      ...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-fact': k }, v)]),
    ),
    el('h4', {}, `Logs in this span (${logs.length})`),
    logs.length
      ? logsTable(logs, 'span-logs')
      : el(
          'p',
          { class: 'muted', 'data-testid': 'span-logs-empty' },
          'No log records in this span.',
        ),
    el('h4', {}, `Events (${events.length})`),
    events.length
      ? el(
          'ol',
          { class: 'span-events', 'data-testid': 'span-events' },
          ...events.map((e) => spanEvent(t, e)),
        )
      : el('p', { class: 'muted' }, 'No events.'),
    el('h4', {}, 'Attributes'),
    attrList(s.attributes, 'span-attributes', 'No attributes.'),
    el('h4', {}, 'Resource attributes'),
    attrList(s.resource, 'span-resource', 'No resource attributes.'),
  ];
}

/** A span event; an exception shows its type, message and stack trace first. */
function spanEvent(t: Trace, e: SpanEvent): HTMLElement {
  const attrs = e.attributes && typeof e.attributes === 'object' ? { ...e.attributes } : {};
  const exception = e.name === 'exception';
  const type = attrs['exception.type'],
    message = attrs['exception.message'],
    stack = attrs['exception.stacktrace'];
  if (exception) {
    delete attrs['exception.type'];
    delete attrs['exception.message'];
    delete attrs['exception.stacktrace'];
  }
  const at = typeof e.time_ms === 'number' ? `+${fmtMs(e.time_ms - t.start)}` : '';
  return el(
    'li',
    { class: exception ? 'span-event exception' : 'span-event', 'data-name': e.name ?? '' },
    el('span', { class: 'muted' }, at, ' '),
    el('span', { class: exception ? 'badge wf-error' : 'badge' }, e.name ?? '(event)'),
    exception && (type !== undefined || message !== undefined)
      ? el(
          'strong',
          {},
          ' ',
          [type, message]
            .filter((x) => x !== undefined && x !== null)
            .map((x) => attrText(x as AttrValue))
            .join(': '),
        )
      : null,
    exception && stack !== undefined && stack !== null
      ? el('pre', { class: 'raw-stack' }, attrText(stack))
      : null,
    Object.keys(attrs).length ? attrList(attrs, 'event-attributes', '') : null,
  );
}
