// Settings: key, snippet, origins, retention, error tracking (critical pages, noise filters),
// source maps, API tokens, members, the account, projects.
import { api, currentUser, HttpError, Me, ProjectSettings, QueryResult, Role, setMe } from '../api';
import type { ErrorSettings, IgnoreRule, SourceMaps } from '../api';
import { confirmButton, el } from '../dom';
import { fmtBytes, fmtDay, fmtTime } from '../format';
import { table } from '../tables';
import { href, link } from '../url';

export async function settingsView(pid: number, box: HTMLElement): Promise<void> {
  const m = currentUser() as Me;
  const projects: QueryResult = {
    columns: ['project', 'id', 'public key'],
    rows: m.projects.map((p) => [p.name, p.id, p.public_key]),
  };
  const pidOf = new Map(m.projects.map((p) => [p.name, p.id]));
  const s = await api<ProjectSettings>('GET', `/api/v1/projects/${pid}`);
  const role: Role = m.projects.find((p) => p.id === pid)?.role ?? 'viewer';
  const owner = role === 'owner';
  const snippet = el('textarea', {
    readonly: '',
    rows: '4',
    'data-testid': 'snippet',
    class: 'snippet',
  });
  snippet.value = s.snippet;
  const copyMsg = el('span', { class: 'bar-legend', 'data-testid': 'copy-status' });
  const copy = el('button', { type: 'button', 'data-testid': 'copy' }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      if (navigator.clipboard) await navigator.clipboard.writeText(s.snippet);
      else {
        snippet.select();
        document.execCommand('copy');
      }
      copyMsg.textContent = 'Copied.';
    } catch {
      snippet.select();
      copyMsg.textContent = 'Select the text and copy it.';
    }
  });
  const origins = el('textarea', { name: 'allowed_origins', rows: '5', 'data-testid': 'origins' });
  origins.value = s.allowed_origins.join('\n');
  const retention = el('input', {
    name: 'retention_days',
    type: 'number',
    min: '1',
    'data-testid': 'retention',
  });
  retention.value = String(s.retention_days);
  const msg = el('p', { 'data-testid': 'settings-message' });
  const save = el('button', { type: 'submit', 'data-testid': 'save' }, 'Save');
  // the server refuses these changes to non-owners; the form says so instead of failing
  if (!owner) {
    origins.readOnly = true;
    retention.readOnly = true;
    save.disabled = true;
    msg.className = 'muted';
    msg.textContent = 'Only owners change these settings.';
  }
  const form = el(
    'form',
    { class: 'settings' },
    el('label', {}, 'Allowed origins (one per line)', origins),
    el('label', {}, 'Retention (days)', retention),
    save,
    msg,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.className = '';
    msg.textContent = 'Saving…';
    save.disabled = true;
    const body = {
      allowed_origins: origins.value
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l),
      retention_days: Number(retention.value),
    };
    try {
      const u = await api<ProjectSettings>('PUT', `/api/v1/projects/${pid}`, body);
      origins.value = u.allowed_origins.join('\n');
      retention.value = String(u.retention_days);
      msg.className = 'ok';
      msg.textContent = 'Saved.';
    } catch (e) {
      msg.className = 'error';
      msg.textContent = (e as Error).message;
    } finally {
      save.disabled = false;
    }
  });
  box.replaceChildren(
    el('h2', {}, 'Settings'),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Public key'),
      el('code', { 'data-testid': 'public-key' }, s.public_key),
    ),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Install snippet'),
      snippet,
      el('div', {}, copy, ' ', copyMsg),
      el(
        'details',
        { 'data-testid': 'pinned-snippet' },
        el('summary', {}, 'Pinned version (cached by browsers for a year)'),
        el(
          'p',
          { class: 'bar-legend' },
          'The snippet above always loads the agent of the Vigil release you run. This one loads exactly this build of it, so browsers keep it for a year; paste it again after you upgrade Vigil to get the new agent.',
        ),
        el('code', { class: 'snippet' }, s.pinned_snippet),
      ),
    ),
    el('div', { class: 'card' }, el('h3', {}, 'Project settings'), form),
    await errorTrackingCard(pid, owner),
    await sourceMapsCard(pid, s.name, role !== 'viewer'),
    role === 'viewer' ? '' : await tokensCard(pid, owner),
    await membersCard(pid, m.user.id, owner),
    accountCard(m.user.email),
    el(
      'div',
      { class: 'card' },
      el('h3', {}, 'Your projects'),
      table(projects, {
        testid: 'projects-table',
        linkCol: (v) => href('/overview', { project: String(pidOf.get(String(v))) }, false),
      }),
      newProjectForm(),
    ),
  );
}

/** A secret shown once, selected for copying, with the reason it will not be shown again. */
function secretOnce(label: string, secret: string, testid: string): HTMLElement {
  const input = el('input', {
    readonly: '',
    class: 'secret',
    'data-testid': testid,
    'aria-label': label,
  });
  input.value = secret;
  setTimeout(() => input.select(), 0);
  return el(
    'div',
    { class: 'secret-once' },
    el('strong', {}, label),
    input,
    el('p', { class: 'muted' }, 'Copy it now: Vigil keeps only a hash and cannot show it again.'),
  );
}

type Scope = 'read' | 'ingest-admin' | 'admin';
interface TokenInfo {
  id: number;
  hint: string;
  scope: Scope;
  created_at: number;
}
const SCOPES: [Scope, string][] = [
  ['read', 'read'],
  ['ingest-admin', 'ingest-admin (read, set origins)'],
  ['admin', 'admin (read, set origins and retention)'],
];
/** API tokens of a project: listed by their last characters and scope, issued (shown once)
 * and revoked. Members handle read tokens; owners every scope. */
async function tokensCard(pid: number, owner: boolean): Promise<HTMLElement> {
  const card = el('div', { class: 'card', 'data-testid': 'tokens' });
  const fill = async (fresh?: string) => {
    const { tokens } = await api<{ tokens: TokenInfo[] }>('GET', `/api/v1/projects/${pid}/tokens`);
    const msg = el('p', { class: 'error', role: 'alert' });
    const tbody = el('tbody');
    for (const t of tokens) {
      let action: HTMLElement = el('span', { class: 'muted' }, 'owners revoke');
      if (owner || t.scope === 'read') {
        // two clicks, no dialog: a revoked token stops every script using it at once
        const revoke = confirmButton(
          'Revoke',
          'Click again to revoke',
          'revoke-token',
          msg,
          async () => {
            await api('DELETE', `/api/v1/projects/${pid}/tokens/${t.id}`);
            await fill();
          },
        );
        action = revoke;
      }
      tbody.append(
        el(
          'tr',
          { 'data-token-id': String(t.id), 'data-scope': t.scope },
          el('td', {}, el('code', {}, t.hint ? `vt_…${t.hint}` : 'vt_… (issued before hints)')),
          el('td', {}, t.scope),
          el('td', {}, fmtTime(t.created_at * 1000, true)),
          el('td', {}, action),
        ),
      );
    }
    const scope = el('select', {
      name: 'token-scope',
      'data-testid': 'token-scope',
      'aria-label': 'Scope of the new token',
    });
    for (const [v, label] of owner ? SCOPES : SCOPES.slice(0, 1))
      scope.append(el('option', { value: v }, label));
    const issue = el('button', { type: 'button', 'data-testid': 'new-token' }, 'New API token');
    issue.addEventListener('click', async () => {
      issue.disabled = true;
      try {
        const { token } = await api<{ token: string }>('POST', `/api/v1/projects/${pid}/tokens`, {
          scope: scope.value,
        });
        await fill(token);
      } catch (e) {
        msg.textContent = (e as Error).message;
        issue.disabled = false;
      }
    });
    card.replaceChildren(
      el('h3', {}, 'API tokens'),
      el(
        'p',
        { class: 'muted' },
        "Scripts read this project's data with a token: Authorization: Bearer vt_…",
      ),
      fresh ? secretOnce('New token', fresh, 'fresh-token') : '',
      tokens.length
        ? el(
            'table',
            { 'data-testid': 'tokens-table' },
            el(
              'thead',
              {},
              el(
                'tr',
                {},
                el('th', {}, 'token'),
                el('th', {}, 'scope'),
                el('th', {}, 'issued'),
                el('th', {}, ''),
              ),
            ),
            tbody,
          )
        : el('p', { class: 'empty' }, 'No API tokens.'),
      el('div', { class: 'controls' }, scope, issue),
      msg,
    );
  };
  await fill();
  return card;
}

/** Creates a project the user becomes the owner of, and shows its first API token once. */
function newProjectForm(): HTMLElement {
  const name = el('input', {
    name: 'project-name',
    placeholder: 'Project name',
    required: '',
    'data-testid': 'new-project-name',
  });
  const create = el(
    'button',
    { type: 'submit', 'data-testid': 'create-project' },
    'Create project',
  );
  const out = el('div', { role: 'status' });
  const form = el('form', { class: 'controls' }, el('label', {}, 'New project ', name), create);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    create.disabled = true;
    out.replaceChildren();
    try {
      const p = await api<ProjectSettings & { api_token: string }>('POST', '/api/v1/projects', {
        name: name.value,
      });
      setMe(await api<Me>('GET', '/api/v1/me'));
      out.replaceChildren(
        secretOnce(`API token of ${p.name}`, p.api_token, 'new-project-token'),
        link(
          `Open ${p.name} and install it →`,
          href('/settings', { project: String(p.id) }, false),
        ),
      );
      name.value = '';
    } catch (e) {
      out.replaceChildren(
        el(
          'p',
          { class: 'error', role: 'alert', 'data-testid': 'new-project-error' },
          (e as Error).message,
        ),
      );
    } finally {
      create.disabled = false;
    }
  });
  return el('div', {}, form, out);
}

interface Member {
  id: number;
  email: string;
  role: Role;
}
interface Invitation {
  id: number;
  email: string;
  role: Role;
  expires_at: number;
}
const ROLES: Role[] = ['viewer', 'member', 'owner'];
function roleSelect(value: Role, testid: string, label: string): HTMLSelectElement {
  const sel = el('select', { 'data-testid': testid, 'aria-label': label });
  for (const r of ROLES) {
    const o = el('option', { value: r }, r);
    if (r === value) o.selected = true;
    sel.append(o);
  }
  return sel;
}
/** Who can read this project, with their roles. Owners invite by email (a one-time link,
 * shown once, which the invitee opens to join), change roles and remove members. */
async function membersCard(pid: number, self: number, owner: boolean): Promise<HTMLElement> {
  const card = el('div', { class: 'card', 'data-testid': 'members' });
  const fill = async (invited?: [string, string]) => {
    const { members } = await api<{ members: Member[] }>('GET', `/api/v1/projects/${pid}/members`);
    const msg = el('p', { class: 'error', role: 'alert', 'data-testid': 'member-error' });
    const tbody = el('tbody');
    for (const u of members) {
      let role: HTMLElement = el('span', { 'data-testid': 'member-role' }, u.role);
      let action: HTMLElement = el('span', { class: 'muted' }, u.id === self ? 'you' : '');
      if (owner) {
        const sel = roleSelect(u.role, 'member-role', `Role of ${u.email}`);
        sel.addEventListener('change', async () => {
          sel.disabled = true;
          try {
            await api('PUT', `/api/v1/projects/${pid}/members/${u.id}`, { role: sel.value });
            await fill();
          } catch (e) {
            msg.textContent = (e as Error).message;
            sel.value = u.role;
            sel.disabled = false;
          }
        });
        role = sel;
      }
      if (owner && u.id !== self) {
        const remove = el('button', { type: 'button', 'data-testid': 'remove-member' }, 'Remove');
        remove.addEventListener('click', async () => {
          if (remove.dataset.armed !== '1') {
            remove.dataset.armed = '1';
            remove.textContent = 'Click again to remove';
            return;
          }
          remove.disabled = true;
          try {
            await api('DELETE', `/api/v1/projects/${pid}/members/${u.id}`);
            await fill();
          } catch (e) {
            msg.textContent = (e as Error).message;
            remove.disabled = false;
          }
        });
        action = remove;
      }
      tbody.append(
        el(
          'tr',
          { 'data-member': u.email },
          el('td', {}, u.email),
          el('td', {}, role),
          el('td', {}, action),
        ),
      );
    }
    const parts: (HTMLElement | string)[] = [
      el('h3', {}, 'Members'),
      invited
        ? secretOnce(
            `Invitation link for ${invited[0]} (send it to them; it works once, for 7 days)`,
            invited[1],
            'invite-link',
          )
        : '',
      el(
        'table',
        { 'data-testid': 'members-table' },
        el(
          'thead',
          {},
          el('tr', {}, el('th', {}, 'email'), el('th', {}, 'role'), el('th', {}, '')),
        ),
        tbody,
      ),
    ];
    if (owner) {
      const { invitations } = await api<{ invitations: Invitation[] }>(
        'GET',
        `/api/v1/projects/${pid}/invitations`,
      );
      const pending = el('tbody');
      for (const i of invitations) {
        const revoke = el(
          'button',
          { type: 'button', 'data-testid': 'revoke-invitation' },
          'Withdraw',
        );
        revoke.addEventListener('click', async () => {
          revoke.disabled = true;
          try {
            await api('DELETE', `/api/v1/projects/${pid}/invitations/${i.id}`);
            await fill();
          } catch (e) {
            msg.textContent = (e as Error).message;
            revoke.disabled = false;
          }
        });
        pending.append(
          el(
            'tr',
            { 'data-invitation': i.email },
            el('td', {}, i.email),
            el('td', {}, i.role),
            el('td', {}, `until ${fmtDay(i.expires_at)}`),
            el('td', {}, revoke),
          ),
        );
      }
      if (invitations.length)
        parts.push(
          el('h4', {}, 'Pending invitations'),
          el('table', { 'data-testid': 'invitations-table' }, pending),
        );
      const email = el('input', {
        type: 'email',
        name: 'member-email',
        placeholder: 'teammate@example.com',
        required: '',
        'data-testid': 'member-email',
      });
      const role = roleSelect('member', 'invite-role', 'Role of the invitee');
      const add = el('button', { type: 'submit', 'data-testid': 'add-member' }, 'Invite');
      const form = el(
        'form',
        { class: 'controls' },
        el('label', {}, 'Invite by email ', email),
        role,
        add,
      );
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        add.disabled = true;
        try {
          const r = await api<{ invitation: Invitation; link: string }>(
            'POST',
            `/api/v1/projects/${pid}/members`,
            { email: email.value, role: role.value },
          );
          await fill([r.invitation.email, r.link]);
        } catch (e) {
          msg.textContent = (e as Error).message;
          add.disabled = false;
        }
      });
      parts.push(form);
    }
    card.replaceChildren(...parts, msg);
  };
  await fill();
  return card;
}

/** The signed-in user's password; changing it ends their other sessions. */
function accountCard(email: string): HTMLElement {
  const current = el('input', {
    type: 'password',
    name: 'current-password',
    autocomplete: 'current-password',
    required: '',
    'data-testid': 'current-password',
  });
  const next = el('input', {
    type: 'password',
    name: 'new-password',
    autocomplete: 'new-password',
    required: '',
    minlength: '8',
    'data-testid': 'new-password',
  });
  const save = el(
    'button',
    { type: 'submit', 'data-testid': 'change-password' },
    'Change password',
  );
  const msg = el('p', { role: 'status', 'data-testid': 'password-message' });
  const form = el(
    'form',
    { class: 'settings' },
    el('label', {}, 'Current password', current),
    el('label', {}, 'New password (8+ characters)', next),
    save,
    msg,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    save.disabled = true;
    msg.className = '';
    msg.textContent = '';
    try {
      await api('POST', '/api/v1/me/password', { current: current.value, new: next.value });
      current.value = next.value = '';
      msg.className = 'ok';
      msg.textContent = 'Password changed. Your other sessions were signed out.';
    } catch (e) {
      msg.className = 'error';
      msg.textContent =
        e instanceof HttpError && e.status === 401
          ? 'The current password is wrong.'
          : (e as Error).message;
    } finally {
      save.disabled = false;
    }
  });
  return el(
    'div',
    { class: 'card', 'data-testid': 'account' },
    el('h3', {}, `Your account (${email})`),
    form,
  );
}

/** Critical pages (their users weigh ten times in an error group's impact) and the noise
 * filters intake applies: browser extensions, "Script error.", the project's ignore rules.
 * Owners change them; everyone else sees them. */
async function errorTrackingCard(pid: number, owner: boolean): Promise<HTMLElement> {
  const cur = await api<ErrorSettings>('GET', `/api/v1/errors/settings?project=${pid}`);
  const pages = el('textarea', {
    name: 'critical_pages',
    rows: '4',
    'data-testid': 'critical-pages',
    placeholder: '/checkout/*',
  });
  const check = (name: string, testid: string) =>
    el('input', { type: 'checkbox', name, 'data-testid': testid });
  const extensions = check('filter_extensions', 'filter-extensions');
  const scriptError = check('filter_script_error', 'filter-script-error');
  const fetchMaps = check('fetch_sourcemaps', 'fetch-sourcemaps');
  const rules = el('div', { 'data-testid': 'ignore-rules' });
  const addRule = el('button', { type: 'button', 'data-testid': 'add-rule' }, 'Add rule');
  const ruleRow = (r: IgnoreRule) => {
    const field = el('select', { 'data-testid': 'rule-field', 'aria-label': 'Rule field' });
    for (const [v, label] of [
      ['message', 'message'],
      ['url', 'URL (page or script)'],
    ]) {
      const o = el('option', { value: v }, label);
      if (v === r.field) o.selected = true;
      field.append(o);
    }
    const pattern = el('input', {
      'data-testid': 'rule-pattern',
      placeholder: 'text, or a pattern with * wildcards',
      'aria-label': 'Rule pattern',
    });
    pattern.value = r.pattern;
    const remove = el(
      'button',
      { type: 'button', 'data-testid': 'rule-remove', 'aria-label': 'Remove rule' },
      '×',
    );
    const row = el('div', { class: 'rule-row', 'data-testid': 'rule' }, field, pattern, remove);
    remove.addEventListener('click', () => row.remove());
    if (!owner) field.disabled = pattern.disabled = remove.disabled = true;
    return row;
  };
  const fill = (v: ErrorSettings) => {
    pages.value = v.critical_pages.join('\n');
    extensions.checked = v.filter_extensions;
    scriptError.checked = v.filter_script_error;
    fetchMaps.checked = v.fetch_sourcemaps;
    rules.replaceChildren(...v.ignore_rules.map(ruleRow));
  };
  fill(cur);
  addRule.addEventListener('click', () => rules.append(ruleRow({ field: 'message', pattern: '' })));
  const msg = el('p', { 'data-testid': 'error-settings-message' });
  const save = el('button', { type: 'submit', 'data-testid': 'save-error-settings' }, 'Save');
  if (!owner) {
    pages.readOnly = true;
    extensions.disabled = scriptError.disabled = fetchMaps.disabled = true;
    addRule.disabled = save.disabled = true;
    msg.className = 'muted';
    msg.textContent = 'Only owners change these settings.';
  }
  const form = el(
    'form',
    { class: 'settings', 'data-testid': 'error-settings' },
    el(
      'label',
      {},
      'Critical pages (one path pattern per line, * matches any text): a user who hits an error there counts ten times in its impact',
      pages,
    ),
    el('label', { class: 'check' }, extensions, 'Drop errors from browser extensions'),
    el(
      'label',
      { class: 'check' },
      scriptError,
      'Drop "Script error." without a stack (a cross-origin script\'s error, which says nothing)',
    ),
    el(
      'label',
      { class: 'check' },
      fetchMaps,
      'Fetch the source maps pages name (sourceMappingURL) from the allowed origins when no uploaded map matches (public addresses only, 5 s and 16 MiB per file)',
    ),
    el(
      'div',
      {},
      el(
        'div',
        { class: 'muted' },
        'Ignore rules: drop errors whose message, or page or script URL, contains the text (or matches the pattern with *)',
      ),
      rules,
      addRule,
    ),
    save,
    msg,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.className = '';
    msg.textContent = 'Saving…';
    save.disabled = true;
    const body: ErrorSettings = {
      critical_pages: pages.value
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l),
      filter_extensions: extensions.checked,
      filter_script_error: scriptError.checked,
      fetch_sourcemaps: fetchMaps.checked,
      ignore_rules: [...rules.querySelectorAll<HTMLElement>('[data-testid=rule]')]
        .map((row) => ({
          field: (row.querySelector('select') as HTMLSelectElement).value as IgnoreRule['field'],
          pattern: (row.querySelector('input') as HTMLInputElement).value.trim(),
        }))
        .filter((r) => r.pattern),
    };
    try {
      fill(await api<ErrorSettings>('PUT', `/api/v1/errors/settings?project=${pid}`, body));
      msg.className = 'ok';
      msg.textContent = 'Saved. New errors follow the filters within 5 seconds.';
    } catch (e) {
      msg.className = 'error';
      msg.textContent = (e as Error).message;
    } finally {
      save.disabled = false;
    }
  });
  return el('div', { class: 'card' }, el('h3', {}, 'Error tracking'), form);
}

/** The project's uploaded source maps, with their totals; members and owners delete them. */
async function sourceMapsCard(pid: number, name: string, canDelete: boolean): Promise<HTMLElement> {
  const card = el('div', { class: 'card', 'data-testid': 'sourcemaps' });
  const project = /^[\w.-]+$/.test(name) ? name : `'${name.replace(/'/g, "'\\''")}'`;
  const fill = async () => {
    const { sourcemaps, totals } = await api<SourceMaps>(
      'GET',
      `/api/v1/sourcemaps?project=${pid}`,
    );
    const msg = el('p', { class: 'error', role: 'alert' });
    const tbody = el('tbody');
    for (const m of sourcemaps) {
      let action: HTMLElement | string = '';
      if (canDelete) {
        // two clicks, no dialog (like revoking a token): errors after it stay minified
        const del = confirmButton(
          'Delete',
          'Click again to delete',
          'delete-sourcemap',
          msg,
          async () => {
            await api('DELETE', `/api/v1/sourcemaps/${m.id}?project=${pid}`);
            await fill();
          },
        );
        action = del;
      }
      const file = (f: string | null, bytes: number) =>
        f ? el('span', { title: f }, fmtBytes(bytes)) : el('span', { class: 'muted' }, '–');
      tbody.append(
        el(
          'tr',
          { 'data-sourcemap-id': String(m.id) },
          el('td', {}, m.release),
          el('td', { class: 'wrap' }, el('code', {}, m.url)),
          el('td', { class: 'wrap' }, m.debug_id ? el('code', {}, m.debug_id) : '–'),
          el(
            'td',
            { class: 'num', 'data-raw': String(m.map_bytes) },
            file(m.map_file, m.map_bytes),
          ),
          el(
            'td',
            { class: 'num', 'data-raw': String(m.source_bytes) },
            file(m.source_file, m.source_bytes),
          ),
          el('td', {}, fmtTime(m.uploaded_at * 1000, true)),
          el('td', {}, action),
        ),
      );
    }
    const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
    card.replaceChildren(
      el('h3', {}, 'Source maps'),
      el(
        'p',
        { class: 'muted' },
        "With a release's maps uploaded, stack frames show the original file, line, function and source. Upload them when you deploy:",
      ),
      el(
        'code',
        { class: 'cli', 'data-testid': 'sourcemaps-cli' },
        `vigil sourcemaps upload --project ${project} --release R --url-prefix ~/static/js DIR`,
      ),
      el(
        'p',
        { class: 'bar-legend' },
        'R is the release your pages send; ~/ matches the scripts on any host. To a running server: add --server URL --token vt_… (an ingest-admin token).',
      ),
      el(
        'p',
        { 'data-testid': 'sourcemap-totals' },
        `${plural(totals.bundles, 'bundle', 'bundles')} in ${plural(totals.releases, 'release', 'releases')}, ${fmtBytes(totals.bytes)}`,
      ),
      sourcemaps.length
        ? el(
            'table',
            { 'data-testid': 'sourcemaps-table' },
            el(
              'thead',
              {},
              el(
                'tr',
                {},
                ...['release', 'URL', 'debug id', 'map', 'script', 'uploaded', ''].map((h) =>
                  el('th', { class: h === 'map' || h === 'script' ? 'num' : '' }, h),
                ),
              ),
            ),
            tbody,
          )
        : el(
            'p',
            { class: 'empty', 'data-testid': 'sourcemaps-empty' },
            'No source maps uploaded.',
          ),
      msg,
    );
  };
  await fill();
  return card;
}
