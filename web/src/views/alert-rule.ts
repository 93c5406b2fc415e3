// One alert rule: its shapes as the alert API sends them, its description in words, its values
// in the rule's unit, and the editor (create at `?rule=new`, change at `?rule=<id>&edit=1`) with
// a preview of what the rule would have done over the last 7 days.
import { api, attributeFields, HttpError, roleIn } from '../api';
import type { Cell } from '../api';
import { plot } from '../charts';
import { el } from '../dom';
import { fmtNum, fmtTime } from '../format';
import { COMMON_FIELDS, GROUPS, href, link, navigate, VIEW_FIELDS, VITALS } from '../url';

export interface AlertFilter {
  field: string;
  op: string;
  value?: unknown;
}
export type Channel =
  | { type: 'webhook'; url: string }
  | { type: 'slack'; url: string }
  | { type: 'email'; to: string[] };
export interface Denominator {
  metric: string;
  aggregation: string;
  filters: AlertFilter[];
}
/** What POST and PUT /api/v1/alerts/rules take (unknown fields are refused). */
export interface RuleDefinition {
  name: string;
  enabled: boolean;
  metric: string;
  aggregation: string;
  filters: AlertFilter[];
  group_by: string[];
  ratio_of?: Denominator;
  /** For `errors` by `fingerprint` alone: only new groups, or reopened ones. */
  error_groups?: 'new' | 'regression';
  /** A spike: the count against the average of this many windows before. */
  baseline_windows?: number;
  condition: 'above' | 'below';
  threshold: number;
  /** Absent or null: 10% of the threshold on its good side. */
  recovery_threshold?: number | null;
  window_minutes: number;
  delay_minutes: number;
  min_samples: number;
  pending_evaluations: number;
  max_segments: number;
  channels: Channel[];
}
/** A rule as the API answers it: the definition (`recovery_threshold` null when the rule
 * names none) and its record, with the recovery threshold in use. */
export interface AlertRule extends RuleDefinition {
  id: number;
  version: number;
  muted_until: number | null;
  created_at: number;
  updated_at: number;
  recovery_threshold: number | null;
  effective_recovery_threshold: number;
}
export type AlertState = 'ok' | 'pending' | 'firing' | 'resolved';
/** A segment: its group-by values (`{}` without group-by). */
export type Segment = Record<string, Cell>;

const DEFINITION_KEYS: (keyof RuleDefinition)[] = [
  'name',
  'enabled',
  'metric',
  'aggregation',
  'filters',
  'group_by',
  'ratio_of',
  'error_groups',
  'baseline_windows',
  'condition',
  'threshold',
  'recovery_threshold',
  'window_minutes',
  'delay_minutes',
  'min_samples',
  'pending_evaluations',
  'max_segments',
  'channels',
];
/** The definition of a rule as answered, for PUT (which refuses the record's fields). */
export function definitionOf(rule: AlertRule): RuleDefinition {
  const def: Record<string, unknown> = {};
  for (const k of DEFINITION_KEYS) if (rule[k] !== undefined && rule[k] !== null) def[k] = rule[k];
  return def as unknown as RuleDefinition;
}
export const AGGREGATIONS = [
  'p50',
  'p75',
  'p90',
  'p99',
  'avg',
  'min',
  'max',
  'sum',
  'count',
  'sessions',
  'users',
  'estimated_count',
  'estimated_sessions',
  'estimated_users',
  'good',
  'needs_improvement',
  'poor',
  'error_rate',
];
const COUNTS = [
  'count',
  'sessions',
  'users',
  'estimated_count',
  'estimated_sessions',
  'estimated_users',
];
const SHARES = ['good', 'needs_improvement', 'poor', 'error_rate'];
/** Metrics offered besides free text (`table.column` or a table name). */
const METRICS = [
  ...VITALS,
  'page_views',
  'errors',
  'requests',
  'requests.duration',
  'resources.duration',
  'resource_errors',
  'long_tasks.duration',
  'views.load',
  'custom_events',
  'custom_events.value',
  'spans.duration',
  'crashes',
  'app_starts',
];
const FILTER_OPS: [string, string][] = [
  ['eq', 'is'],
  ['neq', 'is not'],
  ['in', 'is one of'],
  ['not_in', 'is none of'],
  ['contains', 'contains'],
  ['gt', '>'],
  ['gte', '≥'],
  ['lt', '<'],
  ['lte', '≤'],
  ['exists', 'is set'],
  ['not_exists', 'is not set'],
];
const LIST_OPS = ['in', 'not_in'];
const NO_VALUE_OPS = ['exists', 'not_exists'];
/** Windows offered (minutes); a rule's own is added when it is another. */
const WINDOWS = [1, 5, 10, 15, 30, 60, 120, 360, 720, 1440];
/** Days the preview looks back. */
const PREVIEW_DAYS = 7;
/** Segments drawn in the preview's chart (the largest). */
const PREVIEW_LINES = 5;
/** Fire and resolve events listed under the preview. */
const PREVIEW_EVENTS = 100;

export const fmtMinutes = (m: number): string =>
  m % 1440 === 0 ? `${m / 1440} d` : m % 60 === 0 ? `${m / 60} h` : `${m} min`;

/** A value in the rule's unit, as notifications write it: ms, a percentage, a count, CLS. */
export function fmtValue(
  d: Pick<RuleDefinition, 'metric' | 'aggregation' | 'ratio_of' | 'baseline_windows'>,
  v: Cell | undefined,
): string {
  if (typeof v !== 'number' || !isFinite(v)) return '–';
  if (d.baseline_windows) return `${v.toFixed(1)}×`;
  if (d.ratio_of || SHARES.includes(d.aggregation)) return `${(v * 100).toFixed(2)}%`;
  if (COUNTS.includes(d.aggregation)) return fmtNum(Math.round(v));
  if (d.metric === 'cls') return v.toFixed(3);
  const timed =
    ['lcp', 'inp', 'fcp', 'ttfb'].includes(d.metric) ||
    d.metric.endsWith('duration') ||
    d.metric.startsWith('views.');
  if (timed) return `${fmtNum(Math.round(v))} ms`;
  return fmtNum(Number(v.toFixed(3)));
}

function filterWords(filters: AlertFilter[]): string {
  return filters
    .map((f) => {
      const op = FILTER_OPS.find(([o]) => o === f.op)?.[1] ?? f.op;
      if (NO_VALUE_OPS.includes(f.op)) return `${f.field} ${op}`;
      const v = Array.isArray(f.value) ? f.value.map(String).join(', ') : String(f.value ?? '');
      return `${f.field} ${op} ${v}`;
    })
    .join(' and ');
}
/** What a rule watches, in words: `p75 of lcp above 4,000 ms by country`. */
export function describeRule(d: RuleDefinition): string {
  let s = `${d.aggregation} of ${d.metric}`;
  if (d.filters.length) s += ` where ${filterWords(d.filters)}`;
  if (d.ratio_of) {
    s += ` / ${d.ratio_of.aggregation} of ${d.ratio_of.metric}`;
    if (d.ratio_of.filters.length) s += ` where ${filterWords(d.ratio_of.filters)}`;
  }
  if (d.error_groups === 'new') s += ' of new groups';
  if (d.error_groups === 'regression') s += ' of reopened groups';
  if (d.baseline_windows)
    s += ` against the previous ${d.baseline_windows} windows ${d.condition} ${d.threshold}×`;
  else s += ` ${d.condition} ${fmtValue(d, d.threshold)}`;
  if (d.group_by.length) s += ` by ${d.group_by.join(', ')}`;
  return s;
}
/** A segment in words, like the API's labels: `country=DE, browser=Chrome` (`all` without group-by). */
export function segmentLabel(s: Segment): string {
  const parts = Object.entries(s).map(([k, v]) => `${k}=${v === null ? 'null' : String(v)}`);
  return parts.length ? parts.join(', ') : 'all';
}
export function channelText(c: Channel | null): string {
  if (!c) return '(unreadable channel)';
  return c.type === 'email' ? `email ${c.to.join(', ')}` : `${c.type} ${c.url}`;
}

// ---------- the editor ----------

const NEW_RULE: RuleDefinition = {
  name: '',
  enabled: true,
  metric: 'lcp',
  aggregation: 'p75',
  filters: [],
  group_by: [],
  condition: 'above',
  threshold: 4000,
  window_minutes: 15,
  delay_minutes: 2,
  min_samples: 30,
  pending_evaluations: 1,
  max_segments: 50,
  channels: [],
};

function select(
  testid: string,
  label: string,
  options: [string, string][],
  value: string,
): HTMLSelectElement {
  const s = el('select', { 'data-testid': testid, 'aria-label': label });
  if (!options.some(([v]) => v === value)) options = [...options, [value, value]];
  for (const [v, text] of options) {
    const o = el('option', { value: v }, text);
    if (v === value) o.selected = true;
    s.append(o);
  }
  return s;
}
function input(testid: string, label: string, value: string, attrs: Record<string, string> = {}) {
  const i = el('input', { 'data-testid': testid, 'aria-label': label, ...attrs });
  i.value = value;
  return i;
}
const field = (label: string, control: HTMLElement, hint = ''): HTMLElement =>
  el('label', {}, label, control, hint ? el('span', { class: 'bar-legend' }, hint) : null);
const pairs = (xs: string[]): [string, string][] => xs.map((x) => [x, x]);

/** Rows of field / operator / value; `read` gives the filters with a field. */
function filterRows(
  testid: string,
  initial: AlertFilter[],
  fieldList: string,
): { box: HTMLElement; read: () => AlertFilter[] } {
  const rows = el('div', { 'data-testid': testid });
  const add = (f: AlertFilter) => {
    const name = input('filter-field', 'Filter field', f.field, {
      list: fieldList,
      placeholder: 'field',
      autocomplete: 'off',
    });
    const op = select('filter-op', 'Filter operator', FILTER_OPS, f.op);
    const value = input(
      'filter-value',
      'Filter value',
      Array.isArray(f.value) ? f.value.map(String).join(', ') : String(f.value ?? ''),
      { placeholder: 'value' },
    );
    const sync = () => {
      value.hidden = NO_VALUE_OPS.includes(op.value);
      value.placeholder = LIST_OPS.includes(op.value) ? 'values, comma-separated' : 'value';
    };
    op.addEventListener('change', sync);
    sync();
    const remove = el(
      'button',
      { type: 'button', 'data-testid': 'filter-remove', 'aria-label': 'Remove filter' },
      '×',
    );
    const row = el(
      'div',
      { class: 'rule-row', 'data-testid': 'filter-row' },
      name,
      op,
      value,
      remove,
    );
    remove.addEventListener('click', () => row.remove());
    rows.append(row);
  };
  initial.forEach(add);
  const more = el('button', { type: 'button', 'data-testid': `${testid}-add` }, 'Add filter');
  more.addEventListener('click', () => add({ field: '', op: 'eq', value: '' }));
  const read = (): AlertFilter[] =>
    [...rows.querySelectorAll<HTMLElement>('[data-testid=filter-row]')].flatMap((row) => {
      const [name, value] = row.querySelectorAll('input');
      const op = (row.querySelector('select') as HTMLSelectElement).value;
      const f = name.value.trim();
      if (!f) return [];
      if (NO_VALUE_OPS.includes(op)) return [{ field: f, op }];
      if (LIST_OPS.includes(op))
        return [
          {
            field: f,
            op,
            value: value.value
              .split(',')
              .map((v) => v.trim())
              .filter((v) => v),
          },
        ];
      // strings: the query model reads them as numbers for numeric fields
      return [{ field: f, op, value: value.value }];
    });
  return { box: el('div', {}, rows, more), read };
}

/** Channel rows (webhook, Slack-compatible webhook, email) with buttons to add each. */
function channelRows(initial: Channel[]): { box: HTMLElement; read: () => Channel[] } {
  const rows = el('div', { 'data-testid': 'channels' });
  const add = (c: Channel) => {
    const type = select(
      'channel-type',
      'Channel type',
      [
        ['webhook', 'webhook (JSON)'],
        ['slack', 'Slack-compatible webhook'],
        ['email', 'email'],
      ],
      c.type,
    );
    const target = input(
      'channel-target',
      'Channel address',
      c.type === 'email' ? c.to.join(', ') : c.url,
    );
    const sync = () =>
      (target.placeholder =
        type.value === 'email' ? 'ops@example.com, oncall@example.com' : 'https://…');
    type.addEventListener('change', sync);
    sync();
    const remove = el(
      'button',
      { type: 'button', 'data-testid': 'channel-remove', 'aria-label': 'Remove channel' },
      '×',
    );
    const row = el('div', { class: 'rule-row', 'data-testid': 'channel' }, type, target, remove);
    remove.addEventListener('click', () => row.remove());
    rows.append(row);
  };
  initial.forEach(add);
  const adders = (
    [
      ['webhook', 'Add webhook', { type: 'webhook', url: '' }],
      ['slack', 'Add Slack', { type: 'slack', url: '' }],
      ['email', 'Add email', { type: 'email', to: [] }],
    ] as [string, string, Channel][]
  ).map(([t, label, c]) => {
    const b = el('button', { type: 'button', 'data-testid': `add-channel-${t}` }, label);
    b.addEventListener('click', () => add(c));
    return b;
  });
  const read = (): Channel[] =>
    [...rows.querySelectorAll<HTMLElement>('[data-testid=channel]')].map((row) => {
      const type = (row.querySelector('select') as HTMLSelectElement).value;
      const v = (row.querySelector('input') as HTMLInputElement).value.trim();
      return type === 'email'
        ? { type: 'email', to: v.split(/[\s,;]+/).filter((a) => a) }
        : { type: type as 'webhook' | 'slack', url: v };
    });
  return { box: el('div', {}, rows, el('div', { class: 'controls' }, ...adders)), read };
}

/** The editor of a new rule (`rule` null) or of `rule`. Viewers are told they cannot. */
export async function ruleEditor(
  pid: number,
  box: HTMLElement,
  rule: AlertRule | null,
): Promise<void> {
  const back = rule
    ? link('← Back to the rule', href('/alerts', { rule: String(rule.id), edit: null }))
    : link('← All alert rules', href('/alerts', { rule: null, edit: null }));
  if (roleIn(pid) === 'viewer') {
    box.replaceChildren(
      el('h2', {}, rule ? `Edit ${rule.name}` : 'New alert rule'),
      el(
        'p',
        { class: 'muted', 'data-testid': 'rule-readonly' },
        'Members and owners create and change alert rules.',
      ),
      back,
    );
    return;
  }
  const d: RuleDefinition = rule ? definitionOf(rule) : { ...NEW_RULE };
  const attrs = await attributeFields(pid);
  const fieldList = el('datalist', { id: 'alert-fields' });
  const dims = [
    ...new Set([...GROUPS, ...COMMON_FIELDS, ...Object.keys(VIEW_FIELDS), ...attrs, ...d.group_by]),
  ];
  fieldList.append(...dims.map((f) => el('option', { value: f })));
  const metricList = el('datalist', { id: 'alert-metrics' });
  metricList.append(...METRICS.map((m) => el('option', { value: m })));

  const name = input('rule-name', 'Name', d.name, {
    required: '',
    maxlength: '200',
    placeholder: 'Slow LCP by country',
  });
  const enabled = el('input', { type: 'checkbox', 'data-testid': 'rule-enabled' });
  enabled.checked = d.enabled;
  const metric = input('rule-metric', 'Metric', d.metric, {
    list: 'alert-metrics',
    required: '',
    autocomplete: 'off',
  });
  const aggregation = select('rule-aggregation', 'Aggregation', pairs(AGGREGATIONS), d.aggregation);
  const filters = filterRows('rule-filters', d.filters, 'alert-fields');
  const groups = [0, 1, 2].map((i) =>
    select(
      `rule-group-${i}`,
      `Group by ${i + 1}`,
      [['', '(none)'], ...pairs(dims)],
      d.group_by[i] ?? '',
    ),
  );
  const condition = select(
    'rule-condition',
    'Condition',
    [
      ['above', 'above'],
      ['below', 'below'],
    ],
    d.condition,
  );
  const num = (testid: string, label: string, v: number | undefined, attrs = {}) =>
    input(testid, label, v === undefined ? '' : String(v), { type: 'number', ...attrs });
  const threshold = num('rule-threshold', 'Threshold', d.threshold, { step: 'any', required: '' });
  // a rule without its own recovery threshold keeps it blank, so it follows the threshold
  const keepRecovery = rule?.recovery_threshold ?? undefined;
  const recovery = num('rule-recovery', 'Recovery threshold', keepRecovery, {
    step: 'any',
    placeholder: 'default: 10% back',
  });
  const windowSel = select(
    'rule-window',
    'Window',
    WINDOWS.map((m) => [String(m), fmtMinutes(m)]),
    String(d.window_minutes),
  );
  const delay = num('rule-delay', 'Delay', d.delay_minutes, { min: '0', max: '1440' });
  const minSamples = num('rule-min-samples', 'Minimum samples', d.min_samples, { min: '0' });
  const pending = num('rule-pending', 'Evaluations before firing', d.pending_evaluations, {
    min: '1',
    max: '100',
  });
  const maxSegments = num('rule-max-segments', 'Most segments', d.max_segments, {
    min: '1',
    max: '500',
  });
  // a spike: a count against its own past, the threshold a factor
  const baseline = num('rule-baseline', 'Baseline windows', d.baseline_windows, {
    min: '1',
    max: '168',
    placeholder: 'off',
  });
  const errorGroups = select(
    'rule-error-groups',
    'Error groups',
    [
      ['', 'any'],
      ['new', 'new groups only'],
      ['regression', 'reopened groups only'],
    ],
    d.error_groups ?? '',
  );
  // a ratio: the value divided by a count of the same segment (e.g. errors per page view)
  const ratioOn = el('input', { type: 'checkbox', 'data-testid': 'rule-ratio' });
  ratioOn.checked = !!d.ratio_of;
  const ratioMetric = input(
    'rule-ratio-metric',
    'Divided by: metric',
    d.ratio_of?.metric ?? 'page_views',
    {
      list: 'alert-metrics',
      autocomplete: 'off',
    },
  );
  const ratioAgg = select(
    'rule-ratio-aggregation',
    'Divided by: aggregation',
    pairs(COUNTS),
    d.ratio_of?.aggregation ?? 'count',
  );
  const ratioFilters = filterRows('rule-ratio-filters', d.ratio_of?.filters ?? [], 'alert-fields');
  const ratioBox = el(
    'div',
    { class: 'alert-fields', 'data-testid': 'rule-ratio-box' },
    field('Metric', ratioMetric),
    field('Aggregation', ratioAgg),
    el(
      'div',
      { class: 'wide' },
      el('span', { class: 'muted' }, 'Which events count'),
      ratioFilters.box,
    ),
  );
  const syncRatio = () => (ratioBox.hidden = !ratioOn.checked);
  ratioOn.addEventListener('change', syncRatio);
  syncRatio();
  const channels = channelRows(d.channels);

  const msg = el('p', { class: 'error', role: 'alert', 'data-testid': 'rule-error' });
  const previewOut = el('div', { 'data-testid': 'preview' });
  const previewBtn = el('button', { type: 'button', 'data-testid': 'rule-preview' }, 'Preview');
  const save = el(
    'button',
    { type: 'submit', 'data-testid': 'rule-save' },
    rule ? 'Save changes' : 'Create rule',
  );

  /** The definition in the form, or a message saying what is missing. */
  const read = (): RuleDefinition | string => {
    const t = threshold.value.trim();
    if (t === '' || !isFinite(Number(t))) return 'The threshold must be a number.';
    const int = (i: HTMLInputElement, dflt: number) =>
      i.value.trim() === '' ? dflt : Math.trunc(Number(i.value));
    const def: RuleDefinition = {
      name: name.value.trim(),
      enabled: enabled.checked,
      metric: metric.value.trim(),
      aggregation: aggregation.value,
      filters: filters.read(),
      group_by: [...new Set(groups.map((g) => g.value).filter((g) => g))],
      condition: condition.value as 'above' | 'below',
      threshold: Number(t),
      window_minutes: Number(windowSel.value),
      delay_minutes: int(delay, NEW_RULE.delay_minutes),
      min_samples: int(minSamples, NEW_RULE.min_samples),
      pending_evaluations: int(pending, NEW_RULE.pending_evaluations),
      max_segments: int(maxSegments, NEW_RULE.max_segments),
      channels: channels.read(),
    };
    const r = recovery.value.trim();
    if (r !== '') {
      if (!isFinite(Number(r))) return 'The recovery threshold must be a number.';
      def.recovery_threshold = Number(r);
    }
    if (baseline.value.trim() !== '') def.baseline_windows = int(baseline, 0);
    if (errorGroups.value === 'new' || errorGroups.value === 'regression')
      def.error_groups = errorGroups.value;
    if (ratioOn.checked)
      def.ratio_of = {
        metric: ratioMetric.value.trim(),
        aggregation: ratioAgg.value,
        filters: ratioFilters.read(),
      };
    return def;
  };

  previewBtn.addEventListener('click', async () => {
    msg.textContent = '';
    const def = read();
    if (typeof def === 'string') {
      msg.textContent = def;
      return;
    }
    previewBtn.disabled = true;
    previewOut.dataset.state = 'loading';
    previewOut.replaceChildren(
      el('p', { class: 'loading' }, 'Running the rule over the last 7 days…'),
    );
    try {
      // the server wants a name to check the rule; an unnamed draft is previewed as such
      const p = await api<Preview>('POST', `/api/v1/alerts/preview?project=${pid}`, {
        rule: { ...def, name: def.name || 'preview' },
        days: PREVIEW_DAYS,
      });
      if (!previewOut.isConnected) return;
      showPreview(previewOut, def, p);
      previewOut.dataset.state = 'ready';
    } catch (e) {
      previewOut.replaceChildren();
      previewOut.dataset.state = 'error';
      msg.textContent = (e as Error).message;
    } finally {
      previewBtn.disabled = false;
    }
  });

  const form = el(
    'form',
    { class: 'alert-form', 'data-testid': 'rule-form' },
    fieldList,
    metricList,
    el(
      'fieldset',
      {},
      el('legend', {}, 'What'),
      el(
        'div',
        { class: 'alert-fields' },
        el('label', { class: 'wide' }, 'Name', name),
        field('Metric', metric, 'a vital, table.column or a table (counts)'),
        field('Aggregation', aggregation),
        el(
          'div',
          { class: 'wide' },
          el('span', { class: 'muted' }, 'Which events count'),
          filters.box,
        ),
        el(
          'label',
          { class: 'check wide' },
          ratioOn,
          'Divide by a count of the same segment (a rate)',
        ),
        el('div', { class: 'wide' }, ratioBox),
        el(
          'div',
          { class: 'wide' },
          el('span', { class: 'muted' }, 'One alert per segment of (up to 3 dimensions)'),
          el('div', { class: 'controls' }, ...groups),
        ),
      ),
    ),
    el(
      'fieldset',
      {},
      el('legend', {}, 'When'),
      el(
        'div',
        { class: 'alert-fields' },
        field('Condition', condition),
        field('Threshold', threshold, "in the metric's unit (ms, a share 0–1, a count)"),
        field('Recovery threshold', recovery, 'optional: where a firing segment resolves'),
        field('Window', windowSel),
        field('Delay (minutes)', delay, 'for batches that arrive late'),
        field('Minimum samples', minSamples, 'fewer: the segment is not judged'),
        field('Evaluations before firing', pending),
        field('Most segments', maxSegments, 'the ones with most samples'),
        field(
          'Spike against (windows)',
          baseline,
          'optional, counts only: the threshold becomes a factor of the usual count',
        ),
        field('Error groups', errorGroups, 'for errors counted by fingerprint'),
        el('label', { class: 'check' }, enabled, 'Enabled'),
      ),
    ),
    el('fieldset', {}, el('legend', {}, 'Who is told'), channels.box),
    el('div', { class: 'controls' }, previewBtn, save, back),
    msg,
    previewOut,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    const def = read();
    if (typeof def === 'string') {
      msg.textContent = def;
      return;
    }
    save.disabled = true;
    try {
      const saved = rule
        ? await api<AlertRule>('PUT', `/api/v1/alerts/rules/${rule.id}?project=${pid}`, def)
        : await api<AlertRule>('POST', `/api/v1/alerts/rules?project=${pid}`, def);
      navigate(href('/alerts', { rule: String(saved.id), edit: null }));
    } catch (e) {
      msg.textContent =
        e instanceof HttpError && e.status === 403
          ? 'Members and owners create and change alert rules.'
          : (e as Error).message;
      save.disabled = false;
    }
  });
  box.replaceChildren(el('h2', {}, rule ? `Edit ${rule.name}` : 'New alert rule'), form);
}

// ---------- the preview ----------

interface PreviewEvent {
  segment: Segment;
  from: AlertState;
  to: AlertState;
  at: number;
  value: number | null;
  samples: number;
}
interface Preview {
  from: number;
  to: number;
  window_minutes: number;
  truncated: boolean;
  fired: number;
  events: PreviewEvent[];
  segments: {
    segment: Segment;
    samples: number;
    points: { at: number; value: number | null; samples: number; state: AlertState }[];
  }[];
}

const COLORS = ['#2a5bd7', '#e67e22', '#16a085', '#8e44ad', '#7f8c8d'];
/** How often the rule would have fired, when and where, and the largest segments' values. */
function showPreview(out: HTMLElement, def: RuleDefinition, p: Preview): void {
  out.dataset.fired = String(p.fired);
  out.dataset.from = String(p.from);
  out.dataset.to = String(p.to);
  const segments = new Set(
    p.events.filter((e) => e.to === 'firing').map((e) => JSON.stringify(e.segment)),
  );
  const chartBox = el('div', { 'data-testid': 'preview-chart' });
  const tbody = el('tbody');
  for (const e of p.events.slice(0, PREVIEW_EVENTS))
    tbody.append(
      el(
        'tr',
        { 'data-to': e.to },
        el('td', {}, fmtTime(e.at, true)),
        el('td', { class: 'words' }, segmentLabel(e.segment)),
        el('td', {}, stateBadge(e.to)),
        el('td', { class: 'num' }, fmtValue(def, e.value)),
        el('td', { class: 'num' }, fmtNum(e.samples)),
      ),
    );
  const lines = p.segments.slice(0, PREVIEW_LINES);
  out.replaceChildren(
    el(
      'p',
      { 'data-testid': 'preview-summary' },
      `Over the last ${PREVIEW_DAYS} days, in windows of ${fmtMinutes(p.window_minutes)}, this rule would have fired `,
      el('strong', { 'data-testid': 'preview-fired' }, fmtNum(p.fired)),
      ` ${p.fired === 1 ? 'time' : 'times'}` +
        (p.fired
          ? ` in ${fmtNum(segments.size)} ${segments.size === 1 ? 'segment' : 'segments'}.`
          : '.'),
    ),
    p.truncated
      ? el(
          'p',
          { class: 'sampled', 'data-testid': 'preview-truncated' },
          'Some windows or segments are missing: a query reached its row limit. Try a longer window or fewer segments.',
        )
      : '',
    lines.length ? chartBox : el('p', { class: 'empty' }, 'No data in these days.'),
    lines.length
      ? el(
          'p',
          { class: 'bar-legend' },
          `The ${lines.length} largest ${lines.length === 1 ? 'segment' : 'segments'}, window by window; the dashed line is the threshold.`,
        )
      : '',
    p.events.length
      ? el(
          'div',
          { class: 'preview-events' },
          el(
            'table',
            { 'data-testid': 'preview-events' },
            el(
              'thead',
              {},
              el(
                'tr',
                {},
                el('th', {}, 'at'),
                el('th', {}, 'segment'),
                el('th', {}, 'became'),
                el('th', { class: 'num' }, 'value'),
                el('th', { class: 'num' }, 'samples'),
              ),
            ),
            tbody,
          ),
        )
      : '',
    p.events.length > PREVIEW_EVENTS
      ? el(
          'p',
          { class: 'muted' },
          `The first ${PREVIEW_EVENTS} of ${fmtNum(p.events.length)} fire and resolve events.`,
        )
      : '',
  );
  if (!lines.length) return;
  const xs = lines[0].points.map((pt) => pt.at / 1000);
  const threshold = def.threshold;
  plot(
    chartBox,
    {
      height: 240,
      // a drag zooms every other chart to a custom range; here there is no range to set
      cursor: { drag: { x: false, y: false } },
      series: [
        {},
        ...lines.map((s, i) => ({
          label: segmentLabel(s.segment),
          stroke: COLORS[i % COLORS.length],
          width: 1.5,
          spanGaps: true,
          value: (_u: unknown, v: number | null) => fmtValue(def, v),
        })),
        {
          label: 'threshold',
          stroke: '#c0392b',
          width: 1,
          dash: [6, 4],
          points: { show: false },
          value: (_u: unknown, v: number | null) => fmtValue(def, v),
        },
      ],
      axes: [{}, { size: 70, values: (_u, vals) => vals.map((v) => fmtValue(def, v)) }],
    },
    [xs, ...lines.map((s) => s.points.map((pt) => pt.value)), xs.map(() => threshold)],
  );
  chartBox.title = '';
}

/** ok / pending / firing / resolved as a badge. */
export function stateBadge(state: AlertState | 'disabled', text: string = state): HTMLElement {
  return el('span', { class: `badge alert-${state}`, 'data-badge': state }, text);
}
