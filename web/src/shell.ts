// Sign-in, project picker, "no access", and the shell around every view: nav, project, range, filter bar.
import {
  api,
  attributeFields,
  HttpError,
  Me,
  mobileOnly,
  Project,
  QueryResult,
  setMe,
} from './api';
import { el } from './dom';
import {
  appliesHere,
  COMMON_FIELDS,
  customRangeHref,
  fieldAppliesHere,
  Filter,
  href,
  hrefTo,
  link,
  MAX_RANGE,
  MOBILE_FIELDS,
  navigate,
  OPS,
  Range,
  RANGES,
  timeRange,
  urlFilters,
  VIEW_FIELDS,
} from './url';

export function loginView(): HTMLElement {
  const email = el('input', {
    type: 'email',
    name: 'email',
    placeholder: 'Email',
    required: '',
    autocomplete: 'username',
  });
  const password = el('input', {
    type: 'password',
    name: 'password',
    placeholder: 'Password',
    required: '',
    autocomplete: 'current-password',
  });
  const msg = el('p', { class: 'error', role: 'alert' });
  const btn = el('button', { type: 'submit' }, 'Sign in');
  const form = el(
    'form',
    { class: 'login', 'data-testid': 'login-form' },
    el('h1', {}, 'Vigil'),
    email,
    password,
    btn,
    msg,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    btn.disabled = true;
    try {
      setMe(
        await api<Me>('POST', '/api/v1/login', { email: email.value, password: password.value }),
      );
      const next = new URLSearchParams(location.search).get('next');
      navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', true);
    } catch (e) {
      msg.textContent =
        e instanceof HttpError && e.status === 401
          ? 'Wrong email or password.'
          : `Sign-in failed: ${(e as Error).message}`;
    } finally {
      btn.disabled = false;
    }
  });
  return form;
}

function projectList(m: Me): HTMLElement {
  const list = el('ul', { class: 'projects', 'data-testid': 'project-list' });
  for (const p of m.projects)
    list.append(el('li', {}, link(p.name, href('/overview', { project: String(p.id) }, false))));
  return m.projects.length ? list : el('p', { class: 'empty' }, 'You have no projects yet.');
}
function signOut(): HTMLButtonElement {
  const b = el('button', { type: 'button' }, 'Sign out');
  b.addEventListener('click', async () => {
    try {
      await api('POST', '/api/v1/logout');
    } catch {
      /* ignore */
    }
    setMe(null);
    navigate('/login', true);
  });
  return b;
}
export function projectPicker(m: Me): HTMLElement {
  return el(
    'main',
    {},
    el('div', { class: 'card' }, el('h2', {}, 'Choose a project'), projectList(m)),
  );
}
/** A project the user does not belong to: nothing of it is requested (the API would answer 404). */
export function noAccess(m: Me): HTMLElement {
  return el(
    'main',
    { 'data-testid': 'no-access' },
    el(
      'div',
      { class: 'card' },
      el('h2', {}, 'You do not have access to this project'),
      el(
        'p',
        {},
        `Signed in as ${m.user.email}. Ask an owner of the project for access, or open one of yours:`,
      ),
      projectList(m),
      signOut(),
    ),
  );
}

function filterBar(pid: number): HTMLElement {
  const active = urlFilters();
  const setFilters = (flt: Filter[]) => navigate(href(location.pathname, {}, true, flt));
  const field = el('select', {
    name: 'field',
    'data-testid': 'filter-field',
    'aria-label': 'Filter field',
  });
  // the apps' fields and values on the Mobile view, and anywhere on a project of apps only
  const onMobile = location.pathname === '/mobile';
  const mobile = onMobile ? Promise.resolve(true) : mobileOnly(pid);
  const option = (f: string) => el('option', { value: f }, f);
  for (const f of [
    ...COMMON_FIELDS.filter(fieldAppliesHere),
    ...(onMobile ? MOBILE_FIELDS : []),
    ...Object.keys(VIEW_FIELDS).filter((k) => VIEW_FIELDS[k].view === location.pathname),
  ])
    field.append(option(f));
  void Promise.all([onMobile ? false : mobile, attributeFields(pid)]).then(([apps, attrs]) =>
    field.append(
      ...(apps ? MOBILE_FIELDS.filter(fieldAppliesHere) : []).map(option),
      ...attrs.map(option),
    ),
  );
  const op = el('select', {
    name: 'op',
    'data-testid': 'filter-op',
    'aria-label': 'Filter operator',
  });
  for (const [k, label] of Object.entries(OPS)) op.append(el('option', { value: k }, label));
  const values = el('datalist', { id: 'filter-values' });
  const value = el('input', {
    name: 'value',
    'data-testid': 'filter-value',
    placeholder: 'value',
    list: 'filter-values',
    required: '',
    autocomplete: 'off',
    'aria-label': 'Filter value',
  });
  // suggestions: the field's most frequent values in the range, fetched when first wanted
  let suggested = '';
  const suggest = async () => {
    const f = field.value;
    if (suggested === f) return;
    suggested = f;
    const { from, to } = timeRange();
    try {
      const table = VIEW_FIELDS[f]?.tables[0] ?? ((await mobile) ? 'screen_loads' : 'views');
      const res = await api<QueryResult>('POST', `/api/v1/query?project=${pid}`, {
        metric: table,
        aggregations: ['count'],
        group_by: [f],
        from,
        to,
        limit: 50,
      });
      if (suggested === f)
        values.replaceChildren(
          ...res.rows
            .filter((r) => r[0] !== null)
            .map((r) => el('option', { value: String(r[0]) })),
        );
    } catch {
      suggested = ''; /* suggestions are optional */
    }
  };
  field.addEventListener('change', () => {
    value.value = '';
    void suggest();
  });
  value.addEventListener('focus', () => void suggest());
  const form = el(
    'form',
    { class: 'filter-form', 'data-testid': 'filter-form' },
    field,
    op,
    value,
    values,
    el('button', { type: 'submit' }, 'Add filter'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    setFilters([...active, { field: field.value, op: op.value, value: value.value }]);
  });
  const chips = active.map((f, i) => {
    const here = appliesHere(f);
    const remove = el(
      'button',
      {
        type: 'button',
        class: 'chip-remove',
        'data-testid': 'filter-remove',
        'aria-label': `Remove filter ${f.field} ${OPS[f.op]} ${String(f.value)}`,
      },
      '×',
    );
    remove.addEventListener('click', () => setFilters(active.filter((_, j) => j !== i)));
    return el(
      'span',
      {
        class: here ? 'chip' : 'chip off',
        'data-testid': 'filter-chip',
        'data-field': f.field,
        'data-applied': String(here),
      },
      `${f.field} ${OPS[f.op]} `,
      el('strong', {}, String(f.value)),
      here ? null : el('em', {}, ' (not applied here)'),
      remove,
    );
  });
  const clear = active.length
    ? link('Clear all', href(location.pathname, {}, true, []), 'clear-all')
    : null;
  return el('div', { class: 'filter-bar', 'data-testid': 'filter-bar' }, form, ...chips, clear);
}

export const NAV: [string, string][] = [
  ['/overview', 'Overview'],
  ['/explorer', 'Performance'],
  ['/pages', 'Pages'],
  ['/network', 'Network'],
  ['/services', 'Services'],
  ['/resources', 'Resources'],
  ['/geography', 'Geography'],
  ['/errors', 'Errors'],
  ['/alerts', 'Alerts'],
  ['/sessions', 'Sessions'],
  ['/business', 'Business'],
  ['/mobile', 'Mobile'],
  ['/settings', 'Settings'],
];

/** Two date-time inputs (the browser's time zone) for a custom range. */
function customRangeForm(cur: Range): HTMLFormElement {
  const local = (ms: number) => {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 16);
  };
  const from = el('input', {
    type: 'datetime-local',
    'data-testid': 'range-from',
    'aria-label': 'From',
    required: '',
  });
  const to = el('input', {
    type: 'datetime-local',
    'data-testid': 'range-to',
    'aria-label': 'To',
    required: '',
  });
  from.value = local(cur.from);
  to.value = local(cur.to);
  const msg = el('span', { class: 'error', role: 'alert' });
  const form = el(
    'form',
    { class: 'custom-range', 'data-testid': 'range-form' },
    from,
    '–',
    to,
    el('button', { type: 'submit' }, 'Apply'),
    msg,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new Date(from.value).getTime(),
      t = new Date(to.value).getTime();
    if (!(f < t)) {
      msg.textContent = 'The start must be before the end.';
      return;
    }
    if (t - f > MAX_RANGE) {
      msg.textContent = 'At most 400 days.';
      return;
    }
    navigate(customRangeHref(f, t));
  });
  return form;
}

export function shell(m: Me, project: Project, content: HTMLElement): HTMLElement {
  const nav = el('nav');
  // filters and range stay when switching views, so a team can look at one segment everywhere
  for (const [p, label] of NAV)
    nav.append(
      link(
        label,
        hrefTo(p),
        (location.pathname === '/page' ? '/pages' : location.pathname) === p ? 'active' : '',
      ),
    );
  const cur = timeRange();
  const range = el('select', { 'data-testid': 'range', 'aria-label': 'Time range' });
  for (const [v, [, label]] of [
    ...Object.entries(RANGES),
    ['custom', [0, 'Custom range…']] as [string, [number, string]],
  ]) {
    const o = el('option', { value: v }, label);
    if (cur.range === v) o.selected = true;
    range.append(o);
  }
  const custom = customRangeForm(cur);
  custom.hidden = cur.range !== 'custom';
  range.addEventListener('change', () => {
    if (range.value === 'custom') {
      custom.hidden = false;
      return;
    }
    navigate(href(location.pathname, { range: range.value, from: null, to: null }));
  });
  const proj = el('select', { 'aria-label': 'Project', 'data-testid': 'project' });
  for (const p of m.projects) {
    const o = el('option', { value: String(p.id) }, p.name);
    if (p.id === project.id) o.selected = true;
    proj.append(o);
  }
  proj.addEventListener('change', () =>
    navigate(
      href(location.pathname, {
        project: proj.value,
        session: null,
        fp: null,
        crash: null,
        trace: null,
        span: null,
        service: null,
        op: null,
      }),
    ),
  );
  const header = el(
    'header',
    { class: 'shell' },
    el('span', { class: 'brand' }, 'Vigil'),
    nav,
    el('span', { class: 'spacer' }),
    proj,
    range,
    custom,
    el('span', { class: 'user', title: m.user.email }, m.user.email),
    signOut(),
  );
  return el(
    'div',
    {},
    header,
    // a trace is one request, and alert rules carry their own filters: the filter bar has
    // nothing to narrow there
    ['/settings', '/traces', '/alerts'].includes(location.pathname) ? null : filterBar(project.id),
    el('main', {}, content),
  );
}
