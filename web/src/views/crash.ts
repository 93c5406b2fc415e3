// One crash group (`/mobile?crash=<fingerprint>`): its state and, for members and owners, the
// buttons that change it; its figures and crashes over time; the latest crash's frames (the
// app's open, runs of system and library frames folded) and raw stack; where it happens (app
// version, OS, device, carrier, connection, screen) and the sessions it hit.
import { crashGroup, HttpError, setCrashGroupState } from '../api';
import type { Cell, CrashGroup, CrashGroupDetail, GroupSession } from '../api';
import { el } from '../dom';
import { fmtAgo, fmtCell, fmtNum, fmtSessionId, fmtTime } from '../format';
import { href, hrefTo, link, Range } from '../url';
import {
  breakdowns,
  framesOf,
  groupBadges,
  groupChart,
  groupFigure as fig,
  stack,
  stateCard,
} from './group';
import type { StackWords } from './group';

type CrashRow = Record<string, Cell>;

const STACK_WORDS: StackWords = {
  others: 'of the system or libraries',
  // an unsymbolicated Apple frame names only its binary
  unnamed: '(unsymbolicated)',
};
const DIMENSIONS: [string, string][] = [
  ['app_version', 'App version'],
  ['os', 'OS'],
  ['os_version', 'OS version'],
  ['device_model', 'Device model'],
  ['carrier', 'Carrier'],
  ['connection_type', 'Connection'],
  ['country', 'Country'],
  ['page_path', 'Screen'],
];

export async function crashView(
  pid: number,
  fp: string,
  box: HTMLElement,
  { from, to }: Range,
): Promise<void> {
  const back = link('← all crash groups', href('/mobile', { crash: null, tab: 'crashes' }), 'back');
  let d: CrashGroupDetail;
  try {
    d = await crashGroup(pid, fp, from, to);
  } catch (e) {
    if (!(e instanceof HttpError && e.status === 404)) throw e;
    box.replaceChildren(
      el('h2', {}, 'Crash group'),
      back,
      el(
        'p',
        { class: 'empty', 'data-testid': 'group-not-found' },
        'This group has no crash in the selected range. Choose a longer range to see it.',
      ),
    );
    return;
  }
  const g = d.group;
  const chartBox = el('div', { 'data-testid': 'group-chart' });
  box.replaceChildren(
    el(
      'h2',
      { class: 'group-head' },
      el('span', { 'data-testid': 'group-type' }, g.error_type ?? 'Crash'),
      ' ',
      groupBadges(g),
    ),
    el('p', { class: 'group-message', 'data-testid': 'group-message' }, g.message ?? ''),
    g.culprit
      ? el(
          'p',
          { class: 'culprit', 'data-testid': 'group-culprit' },
          'in ',
          el('code', {}, g.culprit),
        )
      : '',
    el('p', {}, back),
    stateCard(
      pid,
      g,
      stateWords(g),
      'Members and owners resolve and ignore crash groups.',
      (state, next) => setCrashGroupState(pid, g.fingerprint, state, next),
    ),
    figures(g),
    el('div', { class: 'card' }, el('h3', {}, 'Crashes over time'), chartBox),
    latestCrash(d.events[0]),
    breakdowns(d.breakdowns, DIMENSIONS, 'Where it happens (crashes)'),
    sessionsCard(d.sessions),
  );
  groupChart(chartBox, g, from, to);
}

/** The group's state in words. */
function stateWords(g: CrashGroup): string {
  return g.regressed
    ? 'Regressed: it was resolved and crashed again.'
    : g.state === 'resolved'
      ? g.in_next_release
        ? 'Resolved in the next release: a crash from an app version not seen before reopens it.'
        : 'Resolved: any new crash reopens it.'
      : g.state === 'ignored'
        ? 'Ignored: left out of the default list; its crashes are still stored.'
        : 'Unresolved.';
}

function figures(g: CrashGroup): HTMLElement {
  return el(
    'div',
    { class: 'grid' },
    fig('group-events', 'Crashes', fmtNum(g.events), g.events),
    fig('group-users', 'Users affected', fmtNum(g.users), g.users),
    fig('group-sessions', 'Sessions', fmtNum(g.sessions), g.sessions),
    fig(
      'group-first-seen',
      'First seen',
      fmtAgo(g.first_seen),
      g.first_seen,
      fmtTime(g.first_seen),
    ),
    fig('group-last-seen', 'Last seen', fmtAgo(g.last_seen), g.last_seen, fmtTime(g.last_seen)),
    fig('group-release', 'Last app version', g.last_release ?? '–', g.last_release),
  );
}

/** The latest crash: where and on what it happened, its frames and its raw stack. */
function latestCrash(e: CrashRow | undefined): HTMLElement {
  const box = el('div', { class: 'card', 'data-testid': 'group-event' });
  if (!e) return box;
  const v = (k: string) => e[k] ?? null;
  const words = (...ks: string[]) =>
    ks
      .map((k) => v(k))
      .filter((x) => x !== null && x !== '')
      .join(' ') || '(none)';
  const ts = Number(e.ts);
  const sid = typeof e.session_id === 'string' && e.session_id ? e.session_id : null;
  const facts: [string, HTMLElement | string][] = [
    ['when', fmtTime(ts)],
    [
      'app',
      words('app_name', 'app_version') + (v('app_build') ? ` (build ${v('app_build')})` : ''),
    ],
    ['os', words('os', 'os_version')],
    ['device', words('device_manufacturer', 'device_model')],
    ['screen', fmtCell(v('page_path'))],
    ['connection', words('connection_type', 'effective_type')],
    ['carrier', fmtCell(v('carrier'))],
    ['user', fmtCell(v('user_id'))],
    ['session', sid ? link(sid, sessionHref(sid, ts)) : '(none)'],
  ];
  const frames = framesOf(e.frames);
  box.append(
    el('h3', {}, 'Latest crash'),
    el(
      'dl',
      { class: 'facts', 'data-testid': 'event-facts' },
      ...facts.flatMap(([k, x]) => [el('dt', {}, k), el('dd', { 'data-fact': k }, x)]),
    ),
    el('h4', {}, 'Frames ', el('span', { class: 'muted' }, '(innermost call first)')),
    frames.length
      ? stack(frames, 'stack', STACK_WORDS)
      : el('p', { class: 'empty', 'data-testid': 'stack-empty' }, 'No stack frames.'),
  );
  if (typeof e.stack === 'string' && e.stack)
    box.append(
      el(
        'details',
        { 'data-testid': 'raw-stack' },
        el('summary', {}, 'Raw stack (as the app reported it)'),
        el('pre', { class: 'raw-stack' }, e.stack),
      ),
    );
  return box;
}

/** A session in the sessions view, at the crash (the mobile area's own state left behind). */
const sessionHref = (sid: string, ts: number) =>
  hrefTo('/sessions', { session: sid, t: String(ts), crash: null, start: null });

function sessionsCard(sessions: GroupSession[]): HTMLElement {
  const head = ['session', 'user', 'last crash', 'crashes', 'os', 'country', 'screen'];
  const row = (s: GroupSession) =>
    el(
      'tr',
      { 'data-session': s.session_id },
      el('td', {}, link(fmtSessionId(s.session_id), sessionHref(s.session_id, s.last_seen))),
      el('td', {}, fmtCell(s.user_id)),
      el('td', { title: fmtTime(s.last_seen) }, fmtAgo(s.last_seen)),
      el('td', { class: 'num', 'data-raw': String(s.events) }, fmtNum(s.events)),
      el('td', {}, fmtCell(s.os)),
      el('td', {}, fmtCell(s.country)),
      el('td', { class: 'wrap' }, fmtCell(s.page_path)),
    );
  return el(
    'div',
    { class: 'card' },
    el('h3', {}, 'Sessions it hit (most recent first)'),
    sessions.length
      ? el(
          'table',
          { 'data-testid': 'group-sessions' },
          el(
            'thead',
            {},
            el('tr', {}, ...head.map((h) => el('th', { class: h === 'crashes' ? 'num' : '' }, h))),
          ),
          el('tbody', {}, ...sessions.map(row)),
        )
      : el('p', { class: 'empty' }, 'No sessions.'),
  );
}
