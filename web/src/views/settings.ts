// Settings: key, snippet, origins, retention, API tokens, projects.
import { HttpError, Me, ProjectSettings, QueryResult, api, currentUser, el, href, link, setMe, table } from "../lib";

export async function settingsView(pid: number, box: HTMLElement): Promise<void> {
  const m = currentUser() as Me;
  const projects: QueryResult = { columns: ["project", "id", "public key"], rows: m.projects.map((p) => [p.name, p.id, p.public_key]) };
  const pidOf = new Map(m.projects.map((p) => [p.name, p.id]));
  const s = await api<ProjectSettings>("GET", `/api/v1/projects/${pid}`);
  const snippet = el("textarea", { readonly: "", rows: "4", "data-testid": "snippet", class: "snippet" });
  snippet.value = s.snippet;
  const copyMsg = el("span", { class: "bar-legend", "data-testid": "copy-status" });
  const copy = el("button", { type: "button", "data-testid": "copy" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      if (navigator.clipboard) await navigator.clipboard.writeText(s.snippet);
      else { snippet.select(); document.execCommand("copy"); }
      copyMsg.textContent = "Copied.";
    } catch { snippet.select(); copyMsg.textContent = "Select the text and copy it."; }
  });
  const origins = el("textarea", { name: "allowed_origins", rows: "5", "data-testid": "origins" });
  origins.value = s.allowed_origins.join("\n");
  const retention = el("input", { name: "retention_days", type: "number", min: "1", "data-testid": "retention" });
  retention.value = String(s.retention_days);
  const msg = el("p", { "data-testid": "settings-message" });
  const save = el("button", { type: "submit", "data-testid": "save" }, "Save");
  const form = el("form", { class: "settings" },
    el("label", {}, "Allowed origins (one per line)", origins),
    el("label", {}, "Retention (days)", retention), save, msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.className = ""; msg.textContent = "Saving…"; save.disabled = true;
    const body = { allowed_origins: origins.value.split("\n").map((l) => l.trim()).filter((l) => l), retention_days: Number(retention.value) };
    try {
      const u = await api<ProjectSettings>("PUT", `/api/v1/projects/${pid}`, body);
      origins.value = u.allowed_origins.join("\n"); retention.value = String(u.retention_days);
      msg.className = "ok"; msg.textContent = "Saved.";
    } catch (e) {
      msg.className = "error"; msg.textContent = (e as Error).message;
    } finally { save.disabled = false; }
  });
  box.replaceChildren(el("h2", {}, "Settings"),
    el("div", { class: "card" }, el("h3", {}, "Public key"), el("code", { "data-testid": "public-key" }, s.public_key)),
    el("div", { class: "card" }, el("h3", {}, "Install snippet"), snippet, el("div", {}, copy, " ", copyMsg)),
    el("div", { class: "card" }, el("h3", {}, "Project settings"), form),
    await tokensCard(pid),
    await membersCard(pid, m.user.id),
    accountCard(m.user.email),
    el("div", { class: "card" }, el("h3", {}, "Your projects"),
      table(projects, { testid: "projects-table", linkCol: (v) => href("/overview", { project: String(pidOf.get(String(v))) }, false) }),
      newProjectForm()));
}

/** A secret shown once, selected for copying, with the reason it will not be shown again. */
function secretOnce(label: string, secret: string, testid: string): HTMLElement {
  const input = el("input", { readonly: "", class: "secret", "data-testid": testid, "aria-label": label });
  input.value = secret;
  setTimeout(() => input.select(), 0);
  return el("div", { class: "secret-once" }, el("strong", {}, label), input,
    el("p", { class: "muted" }, "Copy it now: Vigil keeps only a hash and cannot show it again."));
}

interface TokenInfo { id: number; hint: string; created_at: number; }
/** API tokens of a project: listed by their last characters, issued (shown once) and revoked. */
async function tokensCard(pid: number): Promise<HTMLElement> {
  const card = el("div", { class: "card", "data-testid": "tokens" });
  const fill = async (fresh?: string) => {
    const { tokens } = await api<{ tokens: TokenInfo[] }>("GET", `/api/v1/projects/${pid}/tokens`);
    const msg = el("p", { class: "error", role: "alert" });
    const tbody = el("tbody");
    for (const t of tokens) {
      const revoke = el("button", { type: "button", "data-testid": "revoke-token" }, "Revoke");
      // two clicks, no dialog: a revoked token stops every script using it at once
      revoke.addEventListener("click", async () => {
        if (revoke.dataset.armed !== "1") { revoke.dataset.armed = "1"; revoke.textContent = "Click again to revoke"; return; }
        revoke.disabled = true;
        try { await api("DELETE", `/api/v1/projects/${pid}/tokens/${t.id}`); await fill(); }
        catch (e) { msg.textContent = (e as Error).message; revoke.disabled = false; }
      });
      tbody.append(el("tr", { "data-token-id": String(t.id) },
        el("td", {}, el("code", {}, t.hint ? `vt_…${t.hint}` : "vt_… (issued before hints)")),
        el("td", {}, new Date(t.created_at * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC"),
        el("td", {}, revoke)));
    }
    const issue = el("button", { type: "button", "data-testid": "new-token" }, "New API token");
    issue.addEventListener("click", async () => {
      issue.disabled = true;
      try { const { token } = await api<{ token: string }>("POST", `/api/v1/projects/${pid}/tokens`); await fill(token); }
      catch (e) { msg.textContent = (e as Error).message; issue.disabled = false; }
    });
    card.replaceChildren(el("h3", {}, "API tokens"),
      el("p", { class: "muted" }, "Scripts read this project's data with a token: Authorization: Bearer vt_…"),
      fresh ? secretOnce("New token", fresh, "fresh-token") : "",
      tokens.length ? el("table", { "data-testid": "tokens-table" }, el("thead", {}, el("tr", {}, el("th", {}, "token"), el("th", {}, "issued"), el("th", {}, ""))), tbody)
        : el("p", { class: "empty" }, "No API tokens."),
      el("div", {}, issue), msg);
  };
  await fill();
  return card;
}

/** Creates a project the user becomes a member of, and shows its first API token once. */
function newProjectForm(): HTMLElement {
  const name = el("input", { name: "project-name", placeholder: "Project name", required: "", "data-testid": "new-project-name" });
  const create = el("button", { type: "submit", "data-testid": "create-project" }, "Create project");
  const out = el("div", { role: "status" });
  const form = el("form", { class: "controls" }, el("label", {}, "New project ", name), create);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    create.disabled = true; out.replaceChildren();
    try {
      const p = await api<ProjectSettings & { api_token: string }>("POST", "/api/v1/projects", { name: name.value });
      setMe(await api<Me>("GET", "/api/v1/me"));
      out.replaceChildren(secretOnce(`API token of ${p.name}`, p.api_token, "new-project-token"),
        link(`Open ${p.name} and install it →`, href("/settings", { project: String(p.id) }, false)));
      name.value = "";
    } catch (e) {
      out.replaceChildren(el("p", { class: "error", role: "alert", "data-testid": "new-project-error" }, (e as Error).message));
    } finally { create.disabled = false; }
  });
  return el("div", {}, form, out);
}

interface Member { id: number; email: string; }
/** Who can read this project: add by email (a new user gets a generated password, shown once), remove with two clicks. */
async function membersCard(pid: number, self: number): Promise<HTMLElement> {
  const card = el("div", { class: "card", "data-testid": "members" });
  const fill = async (created?: [string, string]) => {
    const { members } = await api<{ members: Member[] }>("GET", `/api/v1/projects/${pid}/members`);
    const msg = el("p", { class: "error", role: "alert", "data-testid": "member-error" });
    const tbody = el("tbody");
    for (const u of members) {
      let action: HTMLElement = el("span", { class: "muted" }, "you");
      if (u.id !== self) {
        const remove = el("button", { type: "button", "data-testid": "remove-member" }, "Remove");
        remove.addEventListener("click", async () => {
          if (remove.dataset.armed !== "1") { remove.dataset.armed = "1"; remove.textContent = "Click again to remove"; return; }
          remove.disabled = true;
          try { await api("DELETE", `/api/v1/projects/${pid}/members/${u.id}`); await fill(); }
          catch (e) { msg.textContent = (e as Error).message; remove.disabled = false; }
        });
        action = remove;
      }
      tbody.append(el("tr", { "data-member": u.email }, el("td", {}, u.email), el("td", {}, action)));
    }
    const email = el("input", { type: "email", name: "member-email", placeholder: "teammate@example.com", required: "", "data-testid": "member-email" });
    const add = el("button", { type: "submit", "data-testid": "add-member" }, "Add member");
    const form = el("form", { class: "controls" }, el("label", {}, "Add by email ", email), add);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      add.disabled = true;
      try {
        const r = await api<{ member: Member; password: string | null }>("POST", `/api/v1/projects/${pid}/members`, { email: email.value });
        await fill(r.password ? [r.member.email, r.password] : undefined);
      } catch (e) { msg.textContent = (e as Error).message; add.disabled = false; }
    });
    card.replaceChildren(el("h3", {}, "Members"),
      created ? secretOnce(`Password of the new user ${created[0]}`, created[1], "member-password") : "",
      el("table", { "data-testid": "members-table" }, el("thead", {}, el("tr", {}, el("th", {}, "email"), el("th", {}, ""))), tbody),
      form, msg);
  };
  await fill();
  return card;
}

/** The signed-in user's password; changing it ends their other sessions. */
function accountCard(email: string): HTMLElement {
  const current = el("input", { type: "password", name: "current-password", autocomplete: "current-password", required: "", "data-testid": "current-password" });
  const next = el("input", { type: "password", name: "new-password", autocomplete: "new-password", required: "", minlength: "8", "data-testid": "new-password" });
  const save = el("button", { type: "submit", "data-testid": "change-password" }, "Change password");
  const msg = el("p", { role: "status", "data-testid": "password-message" });
  const form = el("form", { class: "settings" }, el("label", {}, "Current password", current), el("label", {}, "New password (8+ characters)", next), save, msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    save.disabled = true; msg.className = ""; msg.textContent = "";
    try {
      await api("POST", "/api/v1/me/password", { current: current.value, new: next.value });
      current.value = next.value = "";
      msg.className = "ok"; msg.textContent = "Password changed. Your other sessions were signed out.";
    } catch (e) {
      msg.className = "error"; msg.textContent = e instanceof HttpError && e.status === 401 ? "The current password is wrong." : (e as Error).message;
    } finally { save.disabled = false; }
  });
  return el("div", { class: "card", "data-testid": "account" }, el("h3", {}, `Your account (${email})`), form);
}
