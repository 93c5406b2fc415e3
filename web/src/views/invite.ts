// The page an invitation link opens: /invite#vi_… (the secret stays in the fragment, which
// the browser never sends to a server). Signed in as the invited email: accept. Signed out:
// choose a password (a new account), or give the existing account's password.
import { api, HttpError, Me, Role, setMe } from '../api';
import { el } from '../dom';
import { href, navigate } from '../url';

interface InvitationInfo {
  project: { id: number; name: string };
  email: string;
  role: Role;
  expires_at: number;
}

export async function inviteView(root: HTMLElement): Promise<void> {
  const secret = location.hash.slice(1);
  const box = el('main', { 'data-testid': 'invite' });
  root.replaceChildren(box);
  let info: InvitationInfo;
  try {
    info = await api<InvitationInfo>('POST', '/api/v1/invitations/lookup', { secret });
  } catch (e) {
    box.replaceChildren(
      el(
        'div',
        { class: 'card' },
        el('h2', {}, 'Invitation'),
        el(
          'p',
          { class: 'error', 'data-testid': 'invite-error' },
          e instanceof HttpError && e.status === 404
            ? 'This invitation link does not work: it was used, withdrawn or has expired. Ask for a new one.'
            : `Could not open the invitation: ${(e as Error).message}`,
        ),
      ),
    );
    return;
  }
  let me: Me | null = null;
  try {
    me = setMe(await api<Me>('GET', '/api/v1/me'));
  } catch {
    /* signed out */
  }
  const msg = el('p', { class: 'error', role: 'alert', 'data-testid': 'invite-error' });
  const joined = (m: Me) => {
    setMe(m);
    history.replaceState(null, '', location.pathname);
    navigate(href('/overview', { project: String(info.project.id) }, false), true);
  };
  const card = el(
    'div',
    { class: 'card' },
    el('h2', {}, `Join ${info.project.name}`),
    el('p', {}, `${info.email} is invited as ${info.role}.`),
  );
  if (me && me.user.email.toLowerCase() === info.email.toLowerCase()) {
    const accept = el(
      'button',
      { type: 'button', 'data-testid': 'accept-invitation' },
      `Join ${info.project.name}`,
    );
    accept.addEventListener('click', async () => {
      accept.disabled = true;
      msg.textContent = '';
      try {
        joined(await api<Me>('POST', '/api/v1/invitations/accept', { secret }));
      } catch (e) {
        msg.textContent = (e as Error).message;
        accept.disabled = false;
      }
    });
    card.append(accept);
  } else if (me) {
    const out = el('button', { type: 'button', 'data-testid': 'invite-sign-out' }, 'Sign out');
    out.addEventListener('click', async () => {
      try {
        await api('POST', '/api/v1/logout');
      } catch {
        /* ignore */
      }
      setMe(null);
      void inviteView(root);
    });
    card.append(
      el(
        'p',
        { 'data-testid': 'invite-other-user' },
        `You are signed in as ${me.user.email}. Sign out to accept it as ${info.email}.`,
      ),
      out,
    );
  } else {
    const password = el('input', {
      type: 'password',
      name: 'password',
      autocomplete: 'new-password',
      required: '',
      minlength: '8',
      'data-testid': 'invite-password',
    });
    const accept = el(
      'button',
      { type: 'submit', 'data-testid': 'accept-invitation' },
      `Join ${info.project.name}`,
    );
    const form = el(
      'form',
      { class: 'settings' },
      el(
        'label',
        {},
        `Password for ${info.email} (8+ characters; if you already have an account, its password)`,
        password,
      ),
      accept,
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      accept.disabled = true;
      msg.textContent = '';
      try {
        joined(
          await api<Me>('POST', '/api/v1/invitations/accept', { secret, password: password.value }),
        );
      } catch (e) {
        msg.textContent =
          e instanceof HttpError && e.status === 401
            ? `An account for ${info.email} exists and this is not its password.`
            : (e as Error).message;
        accept.disabled = false;
      }
    });
    card.append(form);
  }
  card.append(msg);
  box.replaceChildren(card);
}
