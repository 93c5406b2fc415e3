// The Business view's funnel: a builder (steps as rows, each a business event or a page
// pattern), its state in the URL (`funnel=event:add_to_cart,page:/checkout&within=60&split=
// device_type`, so a funnel can be shared) and the answer of POST /api/v1/funnel: sessions per
// step as bars, and, when split, conversion by group. Also the table of formatted cells the
// Business view's cards share.
import { api, HttpError } from '../api';
import type { Cell, QueryResult } from '../api';
import { el } from '../dom';
import { fmtCell, fmtDuration, fmtNum, fmtPct } from '../format';
import { csvButton } from '../tables';
import { filtersFor, href, navigate, param } from '../url';
import type { Range } from '../url';

export type StepKind = 'event' | 'page';
export interface Step {
  kind: StepKind;
  value: string;
}
interface StepFigures {
  label: string;
  sessions: number;
  conversion_from_previous: number;
  conversion_from_first: number;
  drop_off: number;
  median_ms_from_first: number | null;
}
interface FunnelFigures {
  group?: Cell;
  steps: StepFigures[];
  conversion: number;
}
interface FunnelAnswer extends FunnelFigures {
  groups?: FunnelFigures[];
}

/** The server's bounds (crates/query/src/funnel.rs). */
const MIN_STEPS = 2,
  MAX_STEPS = 10,
  DEFAULT_WITHIN = 60;
/** Dimensions every step's table has (the common columns), to split a funnel by. */
const SPLITS = [
  'country',
  'device_type',
  'browser',
  'os',
  'release',
  'environment',
  'effective_type',
  'connection_type',
  'page_path',
];

// In `funnel`, steps are separated by commas: a value's own `,` and `%` are escaped.
const escape = (s: string): string => s.replace(/[%,]/g, (c) => (c === '%' ? '%25' : '%2C'));
const unescape = (s: string): string => s.replace(/%(25|2C)/gi, (m) => (m === '%25' ? '%' : ','));
export function encodeSteps(steps: Step[]): string {
  return steps.map((s) => `${s.kind}:${escape(s.value)}`).join(',');
}
/** The URL's funnel, or null when it names none. */
function stepsFromUrl(): Step[] | null {
  const raw = new URLSearchParams(location.search).get('funnel');
  if (!raw) return null;
  const steps = raw
    .split(',')
    .map((part) => /^(event|page):([\s\S]*)$/.exec(part))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ kind: m[1] as StepKind, value: unescape(m[2]) }));
  return steps.length ? steps : null;
}

/** What the server would refuse that is better said here: a step without a name. */
function stepProblem(steps: Step[]): string | null {
  const i = steps.findIndex((s) => !s.value.trim());
  if (i < 0) return null;
  return `Step ${i + 1} has no ${steps[i].kind === 'event' ? 'event name' : 'page path'}: name one, or remove the step.`;
}

/**
 * The funnel card for the URL's funnel (or `defaults`), answered over `range` with the filter
 * bar's common filters. `events` and `pages` are offered as suggestions in the builder.
 */
export async function funnelCard(
  pid: number,
  { from, to }: Range,
  defaults: Step[],
  events: string[],
  pages: string[],
): Promise<HTMLElement> {
  const steps = stepsFromUrl() ?? defaults;
  const withinText = param('within', String(DEFAULT_WITHIN));
  const within = /^\d{1,7}$/.test(withinText) ? Number(withinText) : DEFAULT_WITHIN;
  const split = param('split', '', SPLITS);
  const card = el(
    'div',
    { class: 'card', 'data-testid': 'funnel-card' },
    el('h3', {}, 'Funnel'),
    el(
      'p',
      { class: 'muted' },
      'Sessions that went through these steps in order, each step after the previous one and ' +
        'the last within the time limit of the first. A page step matches a path, * matching anything.',
    ),
    builder(steps, within, split, events, pages),
  );
  if (steps.length === 0) {
    card.append(
      el(
        'p',
        { class: 'empty', 'data-testid': 'funnel-none' },
        'No custom events in this range to build a funnel from: add steps (events or pages) above.',
      ),
    );
    return card;
  }
  const problem = stepProblem(steps);
  if (problem) {
    card.append(el('p', { class: 'error', 'data-testid': 'funnel-error' }, problem));
    return card;
  }
  let answer: FunnelAnswer;
  try {
    answer = await api<FunnelAnswer>('POST', `/api/v1/funnel?project=${pid}`, {
      steps: steps.map((s) => (s.kind === 'event' ? { event: s.value } : { page: s.value })),
      within_minutes: within,
      filters: filtersFor('custom_events'),
      ...(split ? { group_by: split } : {}),
      from,
      to,
    });
  } catch (e) {
    if (!(e instanceof HttpError) || e.status === 401) throw e;
    card.append(
      el(
        'p',
        { class: 'error', 'data-testid': 'funnel-error' },
        `This funnel cannot be computed: ${e.message}`,
      ),
    );
    return card;
  }
  card.append(...result(answer, steps, split));
  return card;
}

/** The form: one row per step, the time limit and the split; "Show funnel" puts it in the URL. */
function builder(
  steps: Step[],
  within: number,
  split: string,
  events: string[],
  pages: string[],
): HTMLFormElement {
  // one suggestion list per kind of step; the form's inputs switch between them
  const lists = { event: 'funnel-events', page: 'funnel-pages' };
  const suggestions = (id: string, values: string[]) =>
    el('datalist', { id }, ...values.map((v) => el('option', { value: v })));
  const rows = el('div', { 'data-testid': 'funnel-steps' });
  const add = el('button', { type: 'button', 'data-testid': 'step-add' }, 'Add step');
  /** Numbers the rows and allows removing down to 2 steps, adding up to 10. */
  const renumber = () => {
    const all = [...rows.children] as HTMLElement[];
    all.forEach((r, i) => {
      (r.querySelector('.step-number') as HTMLElement).textContent = `${i + 1}.`;
      (r.querySelector('[data-testid=step-remove]') as HTMLButtonElement).disabled =
        all.length <= MIN_STEPS;
    });
    add.disabled = all.length >= MAX_STEPS;
  };
  const row = (s: Step): HTMLElement => {
    const kind = el(
      'select',
      { 'data-testid': 'step-kind', 'aria-label': 'step type' },
      el('option', { value: 'event' }, 'event'),
      el('option', { value: 'page' }, 'page'),
    );
    kind.value = s.kind;
    const value = el('input', { type: 'text', 'data-testid': 'step-value', 'aria-label': 'step' });
    value.value = s.value;
    const kindChanged = () => {
      const k = kind.value as StepKind;
      value.setAttribute('list', lists[k]);
      value.placeholder =
        k === 'event' ? 'event name, e.g. checkout' : 'page path, e.g. /products/*';
    };
    kindChanged();
    kind.addEventListener('change', kindChanged);
    const remove = el(
      'button',
      { type: 'button', 'data-testid': 'step-remove', title: 'Remove this step' },
      'Remove',
    );
    const r = el(
      'div',
      { class: 'rule-row', 'data-testid': 'funnel-step' },
      el('span', { class: 'step-number muted' }),
      kind,
      value,
      remove,
    );
    remove.addEventListener('click', () => {
      if (rows.children.length <= MIN_STEPS) return;
      r.remove();
      renumber();
    });
    return r;
  };
  rows.append(...steps.map(row));
  // a funnel has at least two steps: a shorter one from the URL gets empty rows to fill in
  while (rows.children.length < MIN_STEPS) rows.append(row({ kind: 'event', value: '' }));
  add.addEventListener('click', () => {
    if (rows.children.length >= MAX_STEPS) return;
    rows.append(row({ kind: 'event', value: '' }));
    renumber();
    (rows.lastElementChild?.querySelector('input') as HTMLInputElement | null)?.focus();
  });
  renumber();
  const withinInput = el('input', {
    type: 'number',
    name: 'within',
    min: '1',
    max: '10080',
    step: '1',
    'data-testid': 'funnel-within',
  });
  withinInput.value = String(within);
  const splitSel = el(
    'select',
    { name: 'split', 'data-testid': 'funnel-split' },
    el('option', { value: '' }, '(none)'),
    ...SPLITS.map((d) => el('option', { value: d }, d)),
  );
  splitSel.value = split;
  const form = el(
    'form',
    { 'data-testid': 'funnel-form' },
    rows,
    el(
      'div',
      { class: 'controls' },
      add,
      el('label', {}, 'last step within (minutes)', withinInput),
      el('label', {}, 'split by', splitSel),
      el('button', { type: 'submit', 'data-testid': 'funnel-submit' }, 'Show funnel'),
    ),
    suggestions(lists.event, events),
    suggestions(lists.page, pages),
  );
  // the server says what is wrong with a time limit (the form does not stop at min/max)
  form.noValidate = true;
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const steps = [...rows.children].map((r) => ({
      kind: (r.querySelector('select') as HTMLSelectElement).value as StepKind,
      value: (r.querySelector('input') as HTMLInputElement).value.trim(),
    }));
    navigate(
      href(location.pathname, {
        funnel: encodeSteps(steps),
        within: withinInput.value.trim() || String(DEFAULT_WITHIN),
        split: splitSel.value || null,
      }),
    );
  });
  return form;
}

/** Bars of sessions per step with their conversion, and the table by group when split. */
function result(answer: FunnelAnswer, steps: Step[], split: string): HTMLElement[] {
  const first = answer.steps[0]?.sessions ?? 0;
  const last = answer.steps[answer.steps.length - 1]?.sessions ?? 0;
  const label = (i: number) => `${i + 1}. ${steps[i]?.kind ?? 'event'} ${answer.steps[i].label}`;
  const bars = el('div', { 'data-testid': 'funnel-bars' });
  answer.steps.forEach((s, i) => {
    const fill = el('div', { class: 'ni' });
    fill.style.width = `${first > 0 ? (s.sessions / first) * 100 : 0}%`;
    const line = el(
      'div',
      { class: 'rate-row' },
      el('span', { class: 'rate-label', title: label(i) }, label(i)),
      el('div', { class: 'bar rate-bar' }, fill),
      el('span', { class: 'rate-value' }, fmtNum(s.sessions)),
    );
    line.style.gridTemplateColumns = 'minmax(160px, 30%) 1fr 90px';
    line.style.marginBottom = '0';
    const facts =
      i === 0
        ? 'sessions starting the funnel'
        : `${fmtPct(s.conversion_from_previous)} of the previous step · ` +
          `${fmtPct(s.conversion_from_first)} of the first · ${fmtNum(s.drop_off)} dropped off · ` +
          `median ${fmtWait(s.median_ms_from_first)} after step 1`;
    const step = el(
      'div',
      {
        'data-testid': 'funnel-bar',
        'data-step': String(i),
        'data-sessions': String(s.sessions),
        'data-drop-off': String(s.drop_off),
      },
      line,
      el('div', { class: 'muted', 'data-testid': 'funnel-facts' }, facts),
    );
    step.style.marginBottom = '10px';
    bars.append(step);
  });
  const out: HTMLElement[] = [
    el(
      'p',
      { 'data-testid': 'funnel-conversion', 'data-raw': String(answer.conversion) },
      el('strong', {}, `${fmtPct(answer.conversion)} converted`),
      ` from the first step to the last: ${fmtNum(last)} of ${fmtNum(first)} sessions.`,
    ),
    bars,
    csvButtonRow(
      {
        columns: [
          'step',
          'label',
          'sessions',
          'conversion_from_previous',
          'conversion_from_first',
          'drop_off',
          'median_ms_from_first',
        ],
        rows: answer.steps.map((s, i) => [
          i + 1,
          s.label,
          s.sessions,
          s.conversion_from_previous,
          s.conversion_from_first,
          s.drop_off,
          s.median_ms_from_first,
        ]),
      },
      'funnel-steps',
    ),
  ];
  if (split) out.push(...groups(answer, steps, split));
  return out;
}

/** Group × step: each cell the sessions at the step and their share of the group's first step. */
function groups(answer: FunnelAnswer, steps: Step[], split: string): HTMLElement[] {
  const gs = answer.groups ?? [];
  const head = el('h4', {}, `By ${split}`);
  if (!gs.length)
    return [head, el('p', { class: 'empty', 'data-testid': 'funnel-groups-empty' }, 'No groups.')];
  const headers = [
    split,
    ...steps.map((s, i) => `${i + 1}. ${answer.steps[i]?.label ?? s.value}`),
    'conversion',
  ];
  const rows = gs.map((g) => [
    { text: fmtCell(g.group ?? null) },
    ...g.steps.map((s, i) => ({
      text:
        i === 0 ? fmtNum(s.sessions) : `${fmtNum(s.sessions)} · ${fmtPct(s.conversion_from_first)}`,
      raw: s.sessions,
      attrs: { title: `${fmtPct(s.conversion_from_previous)} of the previous step` },
    })),
    { text: fmtPct(g.conversion), raw: g.conversion },
  ]);
  const csv: QueryResult = {
    columns: [
      split,
      'step',
      'label',
      'sessions',
      'conversion_from_previous',
      'conversion_from_first',
    ],
    rows: gs.flatMap((g) =>
      g.steps.map((s, i) => [
        g.group ?? null,
        i + 1,
        s.label,
        s.sessions,
        s.conversion_from_previous,
        s.conversion_from_first,
      ]),
    ),
  };
  return [
    head,
    cellTable('funnel-groups', headers, rows, csv),
    el(
      'p',
      { class: 'muted' },
      "Each cell: the sessions at the step · their share of the group's first step. " +
        'The groups with most sessions at the first step, 20 at most.',
    ),
  ];
}

/** A wait in ms: `850 ms`, `9s`, `2m 30s`. */
function fmtWait(ms: number | null): string {
  if (ms === null || !isFinite(ms)) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : fmtDuration(ms);
}

/** A CSV download on its own line (the raw figures behind bars). */
function csvButtonRow(res: QueryResult, name: string): HTMLElement {
  const b = csvButton(res, name);
  b.textContent = 'CSV of the steps';
  return el('div', {}, b);
}

/** One cell of `cellTable`: its text, and its number (in `data-raw`, right-aligned). */
export interface CellSpec {
  text: string;
  raw?: number;
  attrs?: Record<string, string>;
}
/**
 * A table of cells formatted by the caller (a rate with its interval, sessions with their
 * share), the numbers in `data-raw`; the CSV button downloads `csv`, the raw answer.
 */
export function cellTable(
  testid: string,
  headers: string[],
  rows: CellSpec[][],
  csv: QueryResult,
  rowAttrs: (i: number) => Record<string, string> = () => ({}),
): HTMLElement {
  const numeric = headers.map((_, i) => rows.some((r) => r[i]?.raw !== undefined));
  const thead = el(
    'thead',
    {},
    el('tr', {}, ...headers.map((h, i) => el('th', { class: numeric[i] ? 'num' : '' }, h))),
  );
  const tbody = el(
    'tbody',
    {},
    ...rows.map((r, ri) =>
      el(
        'tr',
        rowAttrs(ri),
        ...r.map((c, i) =>
          el(
            'td',
            {
              ...(c.attrs ?? {}),
              class: numeric[i] ? 'num' : 'wrap',
              ...(c.raw !== undefined ? { 'data-raw': String(c.raw) } : {}),
            },
            c.text,
          ),
        ),
      ),
    ),
  );
  return el(
    'div',
    { class: 'table-box' },
    csvButton(csv, testid),
    el('table', { 'data-testid': testid }, thead, tbody),
  );
}
