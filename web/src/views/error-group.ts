// One error group (`/errors?fp=<fingerprint>`): its state and who may change it, its figures
// and events over time, why its errors are grouped together, the latest events' symbolicated
// stacks (in-app frames open, the others folded), cause chains and breadcrumbs, where it
// happens (release, browser, OS, device, country, page) and the sessions it hit.
import { errorGroup, HttpError, setGroupState } from '../api';
import type { Cell, ErrorGroup, ErrorGroupDetail, GroupSession } from '../api';
import { el } from '../dom';
import { fmtAgo, fmtBefore, fmtCell, fmtNum, fmtSessionId, fmtTime } from '../format';
import { appliesHere, href, hrefTo, link, Range, traceHref, urlFilters } from '../url';
import {
  breakdowns,
  framesOf,
  groupBadges,
  groupChart,
  groupFigure as fig,
  isObject,
  parsed,
  stack,
  stateCard,
} from './group';
import type { Frame, StackWords } from './group';

interface Grouping {
  version: number;
  method: 'in_app_frames' | 'message' | 'custom';
  error_type: string;
  frames?: { file: string; function: string }[];
  message?: string;
  custom?: string[];
  fingerprint: string;
}
interface Cause {
  error_type: string;
  message: string;
  frames?: Frame[];
}
interface Breadcrumb {
  ts: number;
  category: string;
  message: string;
  data?: Record<string, Cell>;
}
type ErrorRow = Record<string, Cell>;

const STACK_WORDS: StackWords = {
  others: 'of libraries, the browser or extensions',
  unnamed: '(anonymous)',
};
const DIMENSIONS: [string, string][] = [
  ['release', 'Release'],
  ['browser', 'Browser'],
  ['os', 'OS'],
  ['device_type', 'Device'],
  ['country', 'Country'],
  ['page_path', 'Page'],
  ['url_template', 'URL template'],
];

export async function errorGroupView(
  pid: number,
  fp: string,
  box: HTMLElement,
  { from, to }: Range,
): Promise<void> {
  const back = link('← all error groups', href('/errors', { fp: null }), 'back');
  let d: ErrorGroupDetail;
  try {
    d = await errorGroup(pid, fp, from, to);
  } catch (e) {
    if (!(e instanceof HttpError && e.status === 404)) throw e;
    box.replaceChildren(
      el('h2', {}, 'Error group'),
      back,
      el(
        'p',
        { class: 'empty', 'data-testid': 'group-not-found' },
        'This group has no error in the selected range. Choose a longer range to see it.',
      ),
    );
    return;
  }
  const g = d.group;
  const latest = d.events[0];
  const chartBox = el('div', { 'data-testid': 'group-chart' });
  const filtered = urlFilters().some(appliesHere);
  box.replaceChildren(
    el(
      'h2',
      { class: 'group-head' },
      el('span', { 'data-testid': 'group-type' }, g.error_type ?? 'Error'),
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
    filtered
      ? el(
          'p',
          { class: 'muted', 'data-testid': 'group-filters-note' },
          "The filter bar narrows the list of groups; this page shows all of this group's errors in the range.",
        )
      : '',
    stateCard(
      pid,
      g,
      stateWords(g),
      'Members and owners resolve and ignore groups.',
      (state, next) => setGroupState(pid, g.fingerprint, state, next),
    ),
    figures(g),
    el('div', { class: 'card' }, el('h3', {}, 'Events over time'), chartBox),
    whyGrouped(g, latest),
    eventsCard(d.events),
    breakdowns(d.breakdowns, DIMENSIONS, 'Where it happens (events)'),
    sessionsCard(g, d.sessions),
  );
  groupChart(chartBox, g, from, to);
}

/** The group's state in words. */
function stateWords(g: ErrorGroup): string {
  return g.regressed
    ? `Regressed: resolved ${g.resolved_at ? fmtTime(g.resolved_at) : ''}, and it happened again${g.in_next_release ? ' in a release not seen before' : ''}.`
    : g.state === 'resolved'
      ? `Resolved ${g.resolved_at ? fmtTime(g.resolved_at) : ''}` +
        (g.in_next_release
          ? ' in the next release: errors from the releases seen so far are expected; one from a new release reopens it.'
          : ': any new error reopens it.')
      : g.state === 'ignored'
        ? 'Ignored: left out of the default list; its errors are still stored.'
        : 'Unresolved.';
}

function figures(g: ErrorGroup): HTMLElement {
  return el(
    'div',
    { class: 'grid' },
    fig('group-events', 'Events', fmtNum(g.events), g.events),
    fig('group-users', 'Users affected', fmtNum(g.users), g.users),
    fig('group-sessions', 'Sessions', fmtNum(g.sessions), g.sessions),
    fig(
      'group-critical',
      'Users on critical pages',
      fmtNum(g.critical_users),
      g.critical_users,
      'Each counts ten times in the impact',
    ),
    fig(
      'group-first-seen',
      'First seen',
      fmtAgo(g.first_seen),
      g.first_seen,
      fmtTime(g.first_seen),
    ),
    fig('group-last-seen', 'Last seen', fmtAgo(g.last_seen), g.last_seen, fmtTime(g.last_seen)),
    fig('group-release', 'Last release', g.last_release ?? '–', g.last_release),
    fig(
      'group-handled',
      'Caught by the app',
      `${fmtNum(g.handled)} of ${fmtNum(g.events)}`,
      g.handled,
      'Reported by the application (handled) rather than uncaught',
    ),
  );
}

/** What went into the fingerprint, in words (from the latest event's `grouping`). */
function whyGrouped(g: ErrorGroup, latest: ErrorRow | undefined): HTMLElement {
  const grouping = parsed<Grouping | null>(
    latest?.grouping,
    (x) => isObject(x) && typeof (x as Grouping).method === 'string',
    null,
  );
  const card = el('div', {
    class: 'card',
    'data-testid': 'why-grouped',
    'data-method': grouping?.method ?? (g.fingerprint.startsWith('legacy:') ? 'legacy' : 'none'),
  });
  const parts: (HTMLElement | string | null)[] = [el('h3', {}, 'Why these errors are grouped')];
  const framesList = (frames: Grouping['frames']) =>
    el(
      'ol',
      { class: 'grouping-frames' },
      ...(frames ?? []).map((f) =>
        el(
          'li',
          { 'data-testid': 'grouping-frame' },
          el('code', {}, f.function || '(anonymous)'),
          ' in ',
          el('code', {}, f.file || '(no file)'),
        ),
      ),
    );
  const type = (t: string) => el('code', {}, t);
  if (!grouping) {
    parts.push(
      el(
        'p',
        {},
        g.fingerprint.startsWith('legacy:')
          ? 'These errors were stored before grouping existed: they are grouped by their type and message as written.'
          : 'The latest error carries no record of how it was grouped.',
      ),
    );
  } else if (grouping.method === 'in_app_frames') {
    parts.push(
      el(
        'p',
        {},
        'Same error type (',
        type(grouping.error_type),
        `) and the same ${grouping.frames?.length ?? 0} in-app ${grouping.frames?.length === 1 ? 'frame' : 'frames'}, innermost first, by file and function. ` +
          'Line and column numbers, URLs, query strings and content hashes are left out, so a new deploy or another page does not split the group; the message is not used.',
      ),
      framesList(grouping.frames),
    );
  } else if (grouping.method === 'message') {
    parts.push(
      el(
        'p',
        {},
        'No in-app frame named a file or function, so these errors are grouped by the error type (',
        type(grouping.error_type),
        ') and the message with its variable parts (numbers, ids, URLs…) replaced:',
      ),
      el(
        'pre',
        { class: 'grouping-message', 'data-testid': 'grouping-message' },
        grouping.message ?? '',
      ),
    );
  } else {
    const custom = grouping.custom ?? [];
    parts.push(
      el(
        'p',
        {},
        'The application set its own fingerprint (',
        el('code', {}, 'vigil.error(e, { fingerprint })'),
        '): errors with the same parts are one group.',
      ),
      el(
        'ol',
        { class: 'grouping-frames' },
        ...custom.map((c) => el('li', { 'data-testid': 'grouping-part' }, el('code', {}, c))),
      ),
      grouping.frames?.length || grouping.message
        ? el(
            'p',
            {},
            '{{ default }} stands for the collector’s own grouping: ',
            grouping.frames?.length
              ? 'the type and these in-app frames'
              : 'the type and the message',
          )
        : null,
      grouping.frames?.length ? framesList(grouping.frames) : null,
      grouping.message && !grouping.frames?.length
        ? el('pre', { class: 'grouping-message' }, grouping.message)
        : null,
    );
  }
  parts.push(
    el(
      'p',
      { class: 'bar-legend' },
      'Fingerprint ',
      el('code', { 'data-testid': 'fingerprint' }, g.fingerprint),
      grouping ? ` (grouping version ${grouping.version})` : '',
    ),
  );
  card.append(...parts.filter((p): p is HTMLElement | string => p !== null));
  return card;
}

/** The latest events: one shown at a time (the newest first), picked from a list. */
function eventsCard(events: ErrorRow[]): HTMLElement {
  const card = el('div', { class: 'card', 'data-testid': 'group-event' });
  if (!events.length) return card;
  const body = el('div');
  const pick = el('select', { 'data-testid': 'event-pick', 'aria-label': 'Event' });
  events.forEach((e, i) =>
    pick.append(
      el(
        'option',
        { value: String(i) },
        `${fmtTime(Number(e.ts))} · ${fmtCell(e.browser ?? null)} · ${fmtCell(e.page_path ?? null)}`,
      ),
    ),
  );
  const show = () => body.replaceChildren(...eventBody(events[Number(pick.value)] ?? events[0]));
  pick.addEventListener('change', show);
  show();
  card.append(
    el(
      'div',
      { class: 'controls' },
      el('h3', {}, `Latest ${events.length === 1 ? 'event' : `${events.length} events`}`),
      pick,
    ),
    body,
  );
  return card;
}

const SYMBOLICATION: Record<string, string> = {
  mapped:
    'Every frame that could be was mapped to the original source with an uploaded source map.',
  partial: 'Some frames were mapped with an uploaded source map; each of the others says why not.',
  unmapped:
    'No frame was mapped to the original source: upload the release’s source maps (Settings → Source maps); each frame says what was missing.',
  no_frames: 'The error came without a stack.',
};

function eventBody(e: ErrorRow): HTMLElement[] {
  const ts = Number(e.ts);
  const sid = e.session_id === null || e.session_id === undefined ? null : String(e.session_id);
  const facts: [string, HTMLElement | string][] = [
    ['when', fmtTime(ts)],
    ['page', fmtCell(e.page_url ?? e.page_path ?? null)],
    [
      'browser / os',
      `${fmtCell(e.browser ?? null)} ${e.browser_version ?? ''} / ${fmtCell(e.os ?? null)} ${e.os_version ?? ''}`,
    ],
    ['release', fmtCell(e.release ?? null)],
    ['user', fmtCell(e.user_id ?? null)],
    ['session', sid ? link(sid, hrefTo('/sessions', { session: sid, t: String(ts) })) : '(none)'],
    ...(sid
      ? ([
          [
            'replay',
            link(
              'replay at the error',
              hrefTo('/sessions', { session: sid, t: String(ts) }),
              'replay-at-error',
            ),
          ],
        ] as [string, HTMLElement][])
      : []),
    [
      'caught',
      e.handled === true
        ? 'yes: reported by the application'
        : `no: uncaught${e.source ? ` (${String(e.source)})` : ''}`,
    ],
  ];
  const frames = framesOf(e.frames);
  const causes = parsed<unknown[]>(e.causes, Array.isArray, []).filter(isObject) as Cause[];
  const crumbs = parsed<unknown[]>(e.breadcrumbs, Array.isArray, []).filter(
    isObject,
  ) as Breadcrumb[];
  const status = typeof e.symbolication === 'string' ? e.symbolication : '';
  return [
    el(
      'dl',
      { class: 'facts', 'data-testid': 'event-facts' },
      ...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-fact': k }, v)]),
    ),
    el('h4', {}, 'Stack trace ', el('span', { class: 'muted' }, '(innermost call first)')),
    status
      ? el(
          'p',
          { class: 'muted', 'data-testid': 'symbolication', 'data-status': status },
          SYMBOLICATION[status] ?? status,
        )
      : null,
    frames.length
      ? stack(frames, 'stack', STACK_WORDS)
      : el('p', { class: 'empty', 'data-testid': 'stack-empty' }, 'No stack frames.'),
    typeof e.stack === 'string' && e.stack
      ? el(
          'details',
          { 'data-testid': 'raw-stack' },
          el('summary', {}, 'Raw stack (as the browser reported it)'),
          el('pre', { class: 'raw-stack' }, e.stack),
        )
      : null,
    causes.length ? causeChain(causes) : null,
    el('h4', {}, 'Breadcrumbs ', el('span', { class: 'muted' }, '(what happened before it)')),
    breadcrumbs(crumbs, ts),
  ].filter((x): x is HTMLElement => x !== null);
}

function causeChain(causes: Cause[]): HTMLElement {
  return el(
    'div',
    { class: 'causes', 'data-testid': 'causes' },
    ...causes.map((c, i) => {
      const frames = Array.isArray(c.frames) ? c.frames.filter(isObject) : [];
      return el(
        'div',
        { class: 'cause', 'data-testid': 'cause' },
        el(
          'h4',
          {},
          i === 0 ? 'Caused by ' : 'which was caused by ',
          el('code', {}, String(c.error_type ?? 'Error')),
          ': ',
          String(c.message ?? ''),
        ),
        frames.length
          ? stack(frames, 'cause-stack', STACK_WORDS)
          : el('p', { class: 'muted' }, 'No stack.'),
      );
    }),
  );
}

function breadcrumbs(crumbs: Breadcrumb[], errorTs: number): HTMLElement {
  if (!crumbs.length)
    return el('p', { class: 'empty', 'data-testid': 'breadcrumbs-empty' }, 'No breadcrumbs.');
  const tbody = el('tbody');
  for (const c of crumbs) {
    const diff = errorTs - Number(c.ts);
    const data =
      c.data && isObject(c.data)
        ? Object.entries(c.data)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(' ')
        : '';
    tbody.append(
      el(
        'tr',
        { 'data-category': String(c.category) },
        el(
          'td',
          { class: 'num', title: fmtTime(Number(c.ts)), 'data-raw': String(diff) },
          diff >= 0 ? `${fmtBefore(diff)} before` : `${fmtBefore(-diff)} after`,
        ),
        el(
          'td',
          {},
          el('span', { class: `badge crumb-${String(c.category)}` }, String(c.category)),
        ),
        el(
          'td',
          { class: 'wrap' },
          String(c.message ?? ''),
          data ? el('div', { class: 'muted' }, data) : null,
          // A traced request's breadcrumb opens its trace.
          typeof c.data?.trace_id === 'string' && /^[0-9a-f]{32}$/.test(c.data.trace_id)
            ? link('trace', traceHref(c.data.trace_id, Number(c.ts)), 'crumb-trace')
            : null,
        ),
      ),
    );
  }
  return el(
    'table',
    { 'data-testid': 'breadcrumbs' },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        el('th', { class: 'num' }, 'when'),
        el('th', {}, 'what'),
        el('th', {}, 'details'),
      ),
    ),
    tbody,
  );
}

function sessionsCard(g: ErrorGroup, sessions: GroupSession[]): HTMLElement {
  // every session it hit, in the sessions search: by fingerprint, or by type and message for
  // errors stored before grouping (their key is made of those)
  const all = g.fingerprint.startsWith('legacy:')
    ? hrefTo('/sessions', {
        error_type: g.error_type ?? '',
        error_message: g.message ?? '',
      })
    : hrefTo('/sessions', { error_fp: g.fingerprint });
  const tbody = el('tbody');
  for (const s of sessions)
    tbody.append(
      el(
        'tr',
        { 'data-session': s.session_id },
        el(
          'td',
          {},
          // the session opens with its replay (when it has one) at this group's latest error there
          link(
            fmtSessionId(String(s.session_id)),
            hrefTo('/sessions', { session: s.session_id, t: String(s.last_seen) }),
          ),
          ' ',
          link(
            'replay at the error',
            hrefTo('/sessions', { session: s.session_id, t: String(s.last_seen) }),
            'replay-at-error muted',
          ),
        ),
        el('td', {}, fmtCell(s.user_id)),
        el('td', { title: fmtTime(s.last_seen) }, fmtAgo(s.last_seen)),
        el('td', { class: 'num', 'data-raw': String(s.events) }, fmtNum(s.events)),
        el('td', {}, fmtCell(s.browser)),
        el('td', {}, fmtCell(s.os)),
        el('td', {}, fmtCell(s.country)),
        el('td', { class: 'wrap' }, fmtCell(s.page_path)),
      ),
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
            el(
              'tr',
              {},
              ...[
                'session',
                'user',
                'last error',
                'errors',
                'browser',
                'os',
                'country',
                'page',
              ].map((h) => el('th', { class: h === 'errors' ? 'num' : '' }, h)),
            ),
          ),
          tbody,
        )
      : el('p', { class: 'empty' }, 'No sessions.'),
    el('p', {}, link('All sessions with this error →', all, 'all-sessions')),
  );
}
