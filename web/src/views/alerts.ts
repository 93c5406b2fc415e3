// Alerts: the project's rules with their state, what they did lately (transitions) and the
// notifications they sent with every delivery attempt; one rule (`?rule=<id>`): its segments
// with mutes, test notifications, enable, edit and delete; the editor (`?rule=new`,
// `?rule=<id>&edit=1`, alert-rule.ts); and the firing alerts Overview shows.
import { api, HttpError, roleIn } from '../api';
import { confirmButton, el } from '../dom';
import { fmtAgo, fmtNum, fmtTime } from '../format';
import { href, hrefTo, link, navigate, param } from '../url';
import {
  channelText,
  definitionOf,
  describeRule,
  fmtMinutes,
  fmtValue,
  ruleEditor,
  stateBadge,
} from './alert-rule';
import type { AlertRule, AlertState, Channel, RuleDefinition, Segment } from './alert-rule';

interface RuleStatus {
  firing: number;
  pending: number;
  segments: number;
  evaluated_at: number | null;
}
interface SegmentRow {
  segment: Segment;
  label: string;
  state: AlertState;
  since: number;
  value: number | null;
  samples: number;
  evaluated_at: number;
  muted_until: number | null;
}
interface RuleDetail extends AlertRule {
  segments: SegmentRow[];
  mutes: { segment: Segment; until: number }[];
}
interface AlertTransition {
  id: number;
  rule_id: number;
  rule_name: string | null;
  segment: Segment;
  label: string;
  from: AlertState;
  to: AlertState;
  value: number | null;
  threshold: number;
  samples: number;
  window: { from: number; to: number };
  at: number;
  notified: boolean;
}
interface Delivery {
  attempt: number;
  at: number;
  duration_ms: number;
  status: number | null;
  error: string | null;
}
interface AlertNotification {
  id: number;
  rule_id: number;
  kind: 'alert' | 'test';
  channel: Channel | null;
  summary: string | null;
  transitions: number;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: number;
  created_at: number;
  last_error: string | null;
  deliveries: Delivery[];
}
export interface FiringAlert {
  rule_id: number;
  rule_name: string;
  metric: string;
  aggregation: string;
  condition: string;
  threshold: number;
  /** The threshold in the rule's unit (ms, a share, a count). */
  threshold_text: string;
  segment: Segment;
  label: string;
  since: number;
  value: number | null;
  value_text: string | null;
  samples: number;
  /** The rule or this segment is muted. */
  muted: boolean;
  muted_until: number | null;
}

const HOUR = 3600000;
/** Transitions and notifications listed on the alerts page and on a rule. */
const HISTORY_LIMIT = 50;
const NOTIFICATION_LIMIT = 20;
/** How long the notifications are refreshed after a test, waiting for its delivery. */
const TEST_WATCH_MS = 60000;

const rulesOf = (pid: number) =>
  api<{ rules: (AlertRule & { status: RuleStatus })[] }>(
    'GET',
    `/api/v1/alerts/rules?project=${pid}`,
  );
const historyOf = (pid: number, rule: number | null) =>
  api<{ transitions: AlertTransition[] }>(
    'GET',
    `/api/v1/alerts/history?project=${pid}&limit=${HISTORY_LIMIT}${rule === null ? '' : `&rule=${rule}`}`,
  );
const notificationsOf = (pid: number, rule: number | null) =>
  api<{ notifications: AlertNotification[] }>(
    'GET',
    `/api/v1/alerts/notifications?project=${pid}&limit=${NOTIFICATION_LIMIT}${rule === null ? '' : `&rule=${rule}`}`,
  );
/** `e` with a data-testid (for links, which `link` makes without one). */
function testid<T extends HTMLElement>(e: T, id: string): T {
  e.dataset.testid = id;
  return e;
}
const ruleHref = (id: number) => href('/alerts', { rule: String(id), edit: null });

export async function alertsView(pid: number, box: HTMLElement): Promise<void> {
  const which = param('rule', '');
  if (which === 'new') return ruleEditor(pid, box, null);
  if (/^\d+$/.test(which)) {
    let rule: RuleDetail;
    try {
      rule = await api<RuleDetail>('GET', `/api/v1/alerts/rules/${which}?project=${pid}`);
    } catch (e) {
      if (!(e instanceof HttpError && e.status === 404)) throw e;
      box.replaceChildren(
        el('h2', {}, 'Alerts'),
        el(
          'p',
          { class: 'empty', 'data-testid': 'rule-missing' },
          'This project has no such alert rule (it may have been deleted). ',
          link('All alert rules', href('/alerts', { rule: null, edit: null })),
        ),
      );
      return;
    }
    if (param('edit', '') === '1') return ruleEditor(pid, box, rule);
    return ruleDetail(pid, box, rule);
  }
  return rulesList(pid, box);
}

// ---------- the list ----------

async function rulesList(pid: number, box: HTMLElement): Promise<void> {
  const [{ rules }, { transitions }, { notifications }] = await Promise.all([
    rulesOf(pid),
    historyOf(pid, null),
    notificationsOf(pid, null),
  ]);
  const byId = new Map<number, RuleDefinition>(rules.map((r) => [r.id, r]));
  const now = Date.now();
  const tbody = el('tbody');
  for (const r of rules) {
    const muted = r.muted_until !== null && r.muted_until > now;
    const state = !r.enabled
      ? 'disabled'
      : r.status.firing
        ? 'firing'
        : r.status.pending
          ? 'pending'
          : 'ok';
    tbody.append(
      el(
        'tr',
        { 'data-rule-id': String(r.id), 'data-state': state, 'data-muted': String(muted) },
        el('td', { class: 'words' }, link(r.name, ruleHref(r.id), 'rule-link')),
        el('td', { class: 'words', 'data-testid': 'rule-what' }, describeRule(r)),
        el('td', {}, ruleBadge(r, r.status)),
        el(
          'td',
          { 'data-testid': 'rule-muted' },
          muted ? `until ${fmtTime(r.muted_until, true)}` : '–',
        ),
        el('td', {}, `${fmtMinutes(r.window_minutes)} window`),
        el(
          'td',
          {},
          r.status.evaluated_at === null
            ? el('span', { class: 'muted' }, 'not yet')
            : el('span', { title: fmtTime(r.status.evaluated_at) }, fmtAgo(r.status.evaluated_at)),
        ),
      ),
    );
  }
  const canEdit = roleIn(pid) !== 'viewer';
  box.replaceChildren(
    el('h2', {}, 'Alerts'),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Rules'),
      canEdit
        ? el(
            'div',
            { class: 'controls' },
            testid(
              link('New rule', href('/alerts', { rule: 'new', edit: null }), 'button'),
              'new-rule',
            ),
          )
        : el(
            'p',
            { class: 'muted', 'data-testid': 'alerts-readonly' },
            'Members and owners create and change alert rules.',
          ),
      rules.length
        ? el(
            'table',
            { 'data-testid': 'alert-rules' },
            el(
              'thead',
              {},
              el(
                'tr',
                {},
                ...['name', 'what', 'state', 'muted', 'window', 'evaluated'].map((h) =>
                  el('th', {}, h),
                ),
              ),
            ),
            tbody,
          )
        : el(
            'p',
            { class: 'empty', 'data-testid': 'alert-rules-empty' },
            'No alert rules yet: a rule watches a metric per segment (country, page, release…) and tells a webhook, Slack or email when it crosses a threshold.',
          ),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Recent changes of state'),
      historyTable(transitions, byId, true),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Notifications'),
      notificationsTable(notifications, byId, true),
    ),
  );
}

function ruleBadge(r: AlertRule, s: RuleStatus): HTMLElement {
  if (!r.enabled) return stateBadge('disabled');
  if (s.firing) return stateBadge('firing', `${fmtNum(s.firing)} firing`);
  if (s.pending) return stateBadge('pending', `${fmtNum(s.pending)} pending`);
  return s.evaluated_at === null ? stateBadge('ok', 'not evaluated yet') : stateBadge('ok');
}

/** Transitions, newest first; `withRule` adds the rule's name (the list of every rule). */
function historyTable(
  transitions: AlertTransition[],
  rules: Map<number, RuleDefinition>,
  withRule: boolean,
): HTMLElement {
  if (!transitions.length)
    return el('p', { class: 'empty', 'data-testid': 'alert-history-empty' }, 'Nothing yet.');
  const tbody = el('tbody');
  for (const t of transitions) {
    const def = rules.get(t.rule_id);
    const value = (v: number | null) => (def ? fmtValue(def, v) : v === null ? '–' : fmtNum(v));
    tbody.append(
      el(
        'tr',
        { 'data-transition-id': String(t.id), 'data-to': t.to },
        el('td', { title: fmtTime(t.at) }, fmtTime(t.at, true)),
        withRule
          ? el(
              'td',
              { class: 'words' },
              link(t.rule_name ?? `rule ${t.rule_id}`, ruleHref(t.rule_id)),
            )
          : null,
        el('td', { class: 'words' }, t.label),
        el('td', {}, stateBadge(t.from), ' → ', stateBadge(t.to)),
        el('td', { class: 'num' }, value(t.value)),
        el('td', { class: 'num' }, value(t.threshold)),
        el('td', { class: 'num' }, fmtNum(t.samples)),
        el(
          'td',
          {
            title: `window ${fmtTime(t.window.from, true)} – ${fmtTime(t.window.to, true)}`,
          },
          t.notified
            ? 'notified'
            : t.to === 'pending' || t.to === 'ok'
              ? ''
              : 'not notified (muted)',
        ),
      ),
    );
  }
  const heads = ['at', ...(withRule ? ['rule'] : []), 'segment', 'change', 'value', 'threshold'];
  return el(
    'table',
    { 'data-testid': 'alert-history' },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        ...heads.map((h) =>
          el('th', { class: ['value', 'threshold'].includes(h) ? 'num' : '' }, h),
        ),
        el('th', { class: 'num' }, 'samples'),
        el('th', {}, ''),
      ),
    ),
    tbody,
  );
}

/** Notifications, newest first, each with every delivery attempt (status, time, error). */
function notificationsTable(
  list: AlertNotification[],
  rules: Map<number, RuleDefinition>,
  withRule: boolean,
): HTMLElement {
  if (!list.length)
    return el(
      'p',
      { class: 'empty', 'data-testid': 'alert-notifications-empty' },
      'None sent yet.',
    );
  const tbody = el('tbody');
  for (const n of list) {
    const attempts = el('ol', { class: 'deliveries' });
    for (const d of n.deliveries)
      attempts.append(
        el(
          'li',
          {
            'data-testid': 'delivery',
            'data-status': d.status === null ? '' : String(d.status),
            'data-ok': String(d.error === null),
          },
          `#${d.attempt} ${fmtTime(d.at)} · `,
          d.status === null ? 'no answer' : `status ${d.status}`,
          ` · ${fmtNum(d.duration_ms)} ms`,
          d.error ? el('span', { class: 'error' }, ` · ${d.error}`) : null,
        ),
      );
    const next =
      n.state === 'pending'
        ? el(
            'div',
            { class: 'muted' },
            n.attempts ? `next attempt ${fmtTime(n.next_attempt_at)}` : 'queued',
          )
        : null;
    tbody.append(
      el(
        'tr',
        {
          'data-notification-id': String(n.id),
          'data-state': n.state,
          'data-kind': n.kind,
        },
        el('td', { title: fmtTime(n.created_at) }, fmtTime(n.created_at, true)),
        withRule
          ? el(
              'td',
              { class: 'words' },
              link(rules.get(n.rule_id)?.name ?? `rule ${n.rule_id}`, ruleHref(n.rule_id)),
            )
          : null,
        el('td', {}, el('span', { class: `badge kind-${n.kind}` }, n.kind)),
        el('td', { class: 'wrap' }, channelText(n.channel)),
        el('td', { class: 'words' }, n.summary ?? ''),
        el(
          'td',
          {},
          el(
            'span',
            { class: `badge delivery-${n.state}`, 'data-testid': 'delivery-state' },
            n.state,
          ),
          next,
        ),
        el('td', {}, n.deliveries.length ? attempts : el('span', { class: 'muted' }, '–')),
      ),
    );
  }
  const heads = ['created', ...(withRule ? ['rule'] : []), 'kind', 'channel', 'summary', 'state'];
  return el(
    'table',
    { 'data-testid': 'alert-notifications' },
    el('thead', {}, el('tr', {}, ...[...heads, 'attempts'].map((h) => el('th', {}, h)))),
    tbody,
  );
}

// ---------- one rule ----------

async function ruleDetail(pid: number, box: HTMLElement, rule: RuleDetail): Promise<void> {
  const [{ transitions }, { notifications }] = await Promise.all([
    historyOf(pid, rule.id),
    notificationsOf(pid, rule.id),
  ]);
  const canEdit = roleIn(pid) !== 'viewer';
  const now = Date.now();
  const rules = new Map<number, RuleDefinition>([[rule.id, rule]]);
  const msg = el('p', { class: 'error', role: 'alert', 'data-testid': 'rule-action-error' });
  const note = el('p', { class: 'ok', role: 'status', 'data-testid': 'rule-action-note' });
  const reload = () => navigate(location.pathname + location.search, true);
  /** A button that runs `act` (then re-renders, unless it says otherwise), showing a failure. */
  const action = (testid: string, label: string, act: () => Promise<boolean | void>) => {
    const b = el('button', { type: 'button', 'data-testid': testid }, label);
    b.addEventListener('click', async () => {
      b.disabled = true;
      msg.textContent = '';
      try {
        if ((await act()) !== false) reload();
      } catch (e) {
        msg.textContent = (e as Error).message;
      } finally {
        b.disabled = false;
      }
    });
    return b;
  };
  const mute = (until: number | null, segment?: Segment) =>
    api('POST', `/api/v1/alerts/rules/${rule.id}/mute?project=${pid}`, {
      until,
      ...(segment ? { segment } : {}),
    });
  const ruleMuted = rule.muted_until !== null && rule.muted_until > now;

  const notificationsBox = el('div', {}, notificationsTable(notifications, rules, false));
  /** Refreshes the notifications until `ids` are delivered or failed (or a minute passed). */
  const watch = async (ids: number[]) => {
    const until = Date.now() + TEST_WATCH_MS;
    while (notificationsBox.isConnected && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 1000));
      if (!notificationsBox.isConnected) return;
      const { notifications: list } = await notificationsOf(pid, rule.id).catch(() => ({
        notifications: null,
      }));
      if (!list || !notificationsBox.isConnected) continue;
      notificationsBox.replaceChildren(notificationsTable(list, rules, false));
      const mine = list.filter((n) => ids.includes(n.id));
      if (mine.length === ids.length && mine.every((n) => n.state !== 'pending')) return;
    }
  };

  let actions: HTMLElement;
  if (canEdit) {
    // two clicks, no dialog (like revoking a token): the rule's history goes with it
    const del = confirmButton('Delete', 'Click again to delete', 'rule-delete', msg, async () => {
      await api('DELETE', `/api/v1/alerts/rules/${rule.id}?project=${pid}`);
      navigate(href('/alerts', { rule: null, edit: null }));
    });
    actions = el(
      'div',
      { class: 'controls', 'data-testid': 'rule-actions' },
      testid(
        link('Edit', href('/alerts', { rule: String(rule.id), edit: '1' }), 'button'),
        'rule-edit',
      ),
      action(
        'rule-toggle',
        rule.enabled ? 'Disable' : 'Enable',
        async () =>
          void (await api('PUT', `/api/v1/alerts/rules/${rule.id}?project=${pid}`, {
            ...definitionOf(rule),
            enabled: !rule.enabled,
          })),
      ),
      ...(ruleMuted
        ? [action('rule-unmute', 'Unmute rule', async () => void (await mute(null)))]
        : [
            action(
              'rule-mute-1h',
              'Mute rule 1 h',
              async () => void (await mute(Date.now() + HOUR)),
            ),
            action(
              'rule-mute-24h',
              'Mute rule 24 h',
              async () => void (await mute(Date.now() + 24 * HOUR)),
            ),
          ]),
      action('rule-test', 'Send test notification', async () => {
        const { notifications: ids } = await api<{ notifications: number[] }>(
          'POST',
          `/api/v1/alerts/rules/${rule.id}/test?project=${pid}`,
        );
        note.textContent = `Test notification queued to ${ids.length} ${ids.length === 1 ? 'channel' : 'channels'}; its delivery shows below.`;
        const { notifications: list } = await notificationsOf(pid, rule.id);
        notificationsBox.replaceChildren(notificationsTable(list, rules, false));
        void watch(ids);
        return false;
      }),
      del,
    );
  } else
    actions = el(
      'p',
      { class: 'muted', 'data-testid': 'rule-readonly' },
      'Members and owners change, mute and test alert rules.',
    );

  const status: RuleStatus = {
    firing: rule.segments.filter((s) => s.state === 'firing').length,
    pending: rule.segments.filter((s) => s.state === 'pending').length,
    segments: rule.segments.length,
    evaluated_at: rule.segments.reduce<number | null>(
      (m, s) => (m === null || s.evaluated_at > m ? s.evaluated_at : m),
      null,
    ),
  };
  const dl = (rows: [string, string | HTMLElement][]) =>
    el(
      'dl',
      { class: 'rule-summary', 'data-testid': 'rule-summary' },
      ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
    );
  const channels = rule.channels.length
    ? el('ul', { class: 'plain' }, ...rule.channels.map((c) => el('li', {}, channelText(c))))
    : el('span', { class: 'muted' }, 'none: changes of state are only recorded here');
  box.replaceChildren(
    link('← All alert rules', href('/alerts', { rule: null, edit: null })),
    el(
      'h2',
      { class: 'rule-head' },
      el('span', { 'data-testid': 'rule-name' }, rule.name),
      ' ',
      ruleBadge(rule, status),
      ruleMuted
        ? el(
            'span',
            { class: 'badge alert-muted', 'data-testid': 'rule-muted' },
            `muted until ${fmtTime(rule.muted_until, true)}`,
          )
        : null,
    ),
    el(
      'div',
      { class: 'card' },
      el('p', { 'data-testid': 'rule-what' }, describeRule(rule)),
      dl([
        ['window', `${fmtMinutes(rule.window_minutes)}, ending ${rule.delay_minutes} min ago`],
        ['recovers at', fmtValue(rule, rule.effective_recovery_threshold)],
        ['minimum samples', fmtNum(rule.min_samples)],
        [
          'fires after',
          `${rule.pending_evaluations} breaching ${rule.pending_evaluations === 1 ? 'evaluation' : 'evaluations'} in a row`,
        ],
        ['watches', `up to ${fmtNum(rule.max_segments)} segments (the ones with most samples)`],
        ['tells', channels],
        ['changed', `${fmtTime(rule.updated_at, true)} (version ${rule.version})`],
      ]),
      actions,
      msg,
      note,
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Segments'),
      segmentsTable(rule, canEdit, (until, segment) => mute(until, segment), msg, reload),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Changes of state'),
      historyTable(transitions, rules, false),
    ),
    el('div', { class: 'card' }, el('h3', {}, 'Notifications'), notificationsBox),
  );
}

function segmentsTable(
  rule: RuleDetail,
  canEdit: boolean,
  mute: (until: number | null, segment: Segment) => Promise<unknown>,
  msg: HTMLElement,
  reload: () => void,
): HTMLElement {
  if (!rule.segments.length)
    return el(
      'p',
      { class: 'empty', 'data-testid': 'rule-segments-empty' },
      rule.enabled
        ? 'No segment has been evaluated with data yet.'
        : 'The rule is disabled: nothing is evaluated.',
    );
  const now = Date.now();
  const tbody = el('tbody');
  for (const s of rule.segments) {
    const muted = s.muted_until !== null && s.muted_until > now;
    const buttons: HTMLButtonElement[] = [];
    const button = (testid: string, label: string, until: () => number | null) => {
      const b = el('button', { type: 'button', 'data-testid': testid }, label);
      b.addEventListener('click', async () => {
        for (const x of buttons) x.disabled = true;
        msg.textContent = '';
        try {
          await mute(until(), s.segment);
          reload();
        } catch (e) {
          msg.textContent = (e as Error).message;
          for (const x of buttons) x.disabled = false;
        }
      });
      buttons.push(b);
      return b;
    };
    if (canEdit) {
      button('segment-mute-1h', 'Mute 1 h', () => Date.now() + HOUR);
      button('segment-mute-24h', 'Mute 24 h', () => Date.now() + 24 * HOUR);
      if (muted) button('segment-unmute', 'Unmute', () => null);
    }
    tbody.append(
      el(
        'tr',
        {
          'data-segment': JSON.stringify(s.segment),
          'data-state': s.state,
          'data-muted': String(muted),
        },
        el('td', { class: 'words' }, s.label),
        el('td', {}, stateBadge(s.state)),
        el(
          'td',
          { class: 'num', 'data-raw': s.value === null ? '' : String(s.value) },
          fmtValue(rule, s.value),
        ),
        el('td', { class: 'num' }, fmtNum(s.samples)),
        el('td', { title: fmtTime(s.since) }, fmtAgo(s.since)),
        el(
          'td',
          { 'data-testid': 'segment-muted' },
          muted ? `until ${fmtTime(s.muted_until, true)}` : '–',
        ),
        canEdit ? el('td', { class: 'segment-actions' }, ...buttons) : null,
      ),
    );
  }
  return el(
    'table',
    { 'data-testid': 'rule-segments' },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        el('th', {}, 'segment'),
        el('th', {}, 'state'),
        el('th', { class: 'num' }, 'value'),
        el('th', { class: 'num' }, 'samples'),
        el('th', {}, 'since'),
        el('th', {}, 'muted'),
        canEdit ? el('th', {}, '') : null,
      ),
    ),
    tbody,
  );
}

// ---------- Overview's card ----------

/** Segments firing now; none (also when the request fails: the card is extra) hides the card. */
export async function firingAlerts(pid: number): Promise<FiringAlert[]> {
  return api<{ firing: FiringAlert[] }>('GET', `/api/v1/alerts/firing?project=${pid}`)
    .then((r) => r.firing)
    .catch(() => []);
}
/** Rows of the firing card; the rest are counted with a link to the alerts page. */
const FIRING_ROWS = 10;
/** The firing alerts card at the top of Overview, or null when nothing fires. */
export function firingCard(firing: FiringAlert[]): HTMLElement | null {
  if (!firing.length) return null;
  const now = Date.now();
  const rules = new Set(firing.map((f) => f.rule_id)).size;
  return el(
    'div',
    { class: 'card firing-card', 'data-testid': 'firing-alerts' },
    el(
      'h3',
      {},
      `Firing alerts: ${fmtNum(firing.length)} ${firing.length === 1 ? 'segment' : 'segments'} of ${rules} ${rules === 1 ? 'rule' : 'rules'}`,
    ),
    el(
      'ul',
      { class: 'plain' },
      ...firing.slice(0, FIRING_ROWS).map((f) =>
        el(
          'li',
          { 'data-testid': 'firing-alert', 'data-rule-id': String(f.rule_id) },
          link(f.rule_name, hrefTo('/alerts', { rule: String(f.rule_id), edit: null })),
          // value and threshold come written in the rule's unit
          ` · ${f.label}: ${f.aggregation} of ${f.metric} is ${f.value_text ?? '–'} (${f.condition} ${f.threshold_text})`,
          el(
            'span',
            { class: 'muted', title: fmtTime(f.since) },
            ` · since ${fmtAgo(f.since, now)}`,
          ),
          f.muted ? el('span', { class: 'badge alert-muted' }, 'muted') : null,
        ),
      ),
    ),
    firing.length > FIRING_ROWS
      ? link(`and ${fmtNum(firing.length - FIRING_ROWS)} more`, hrefTo('/alerts', { rule: null }))
      : null,
  );
}
