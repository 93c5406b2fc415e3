// Shared by the dashboard's tests and benchmark: `vigil serve` on a data folder with this
// dashboard's build, and the vigil CLI on the same folder. (Under test/, so node --test also
// loads it: it declares no test.)
import { spawn, execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Runs `vigil <args> --data <data>` and returns its stdout. */
export function vigilCli(vigil, data, ...args) {
  return execFileSync(vigil, [...args, '--data', data], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Creates a project with the CLI and returns its JSON (id, public_key, api_token, …). */
export function createProject(vigil, data, name) {
  return JSON.parse(
    vigilCli(vigil, data, 'project', 'create', name, '--json')
      .split('\n')
      .find((l) => l.startsWith('{')),
  );
}

/**
 * Fills `data` with `pageViews` of the demo's web traffic (`vigil demo`, without its mobile
 * project, so the login lands on the web project's view) and returns what it prints:
 * `{ publicKey, token, email, password, projectId, projectName }`.
 */
export function demoData(vigil, data, pageViews) {
  const out = vigilCli(
    vigil,
    data,
    'demo',
    '--page-views',
    String(pageViews),
    '--mobile-sessions',
    '0',
  );
  const [, email, password] = /login\s+(\S+) \/ (\S+)/.exec(out);
  return {
    publicKey: /public key\s+(pk_\S+)/.exec(out)[1],
    token: /api token\s+(vt_\S+)/.exec(out)[1],
    email,
    password,
    projectId: Number(/\(id (\d+)\)/.exec(out)[1]),
    projectName: /project\s+(\S+) \(id/.exec(out)[1],
  };
}

/** A JSON request with an API token; asserts a 200 and resolves to the answer. */
export async function withToken(base, token, method, path, body) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

/** A request from a signed-in page itself: its cookie, its CSRF token, JSON. */
export async function asUser(page, method, path, body) {
  return page.evaluate(
    async ([method, path, body]) => {
      const me = await (await fetch('/api/v1/me')).json();
      const r = await fetch(path, {
        method,
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, body: await r.json().catch(() => null) };
    },
    [method, path, body],
  );
}

/**
 * Starts `vigil serve` on 127.0.0.1 (a free port) with the dashboard from `webDist`, and
 * resolves to `{ server, base }` once it listens.
 */
export async function startServe(vigil, data, webDist, timeoutMs = 30000) {
  const server = spawn(
    vigil,
    ['serve', '--data', data, '--listen', '127.0.0.1:0', '--web-dir', webDist],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const base = await new Promise((res, rej) => {
    let buf = '';
    const t = setTimeout(() => rej(new Error('vigil serve did not start: ' + buf)), timeoutMs);
    server.stdout.on('data', (d) => {
      buf += d;
      const m = /vigil listening on (http:\/\/\S+)/.exec(buf);
      if (m) {
        clearTimeout(t);
        res(m[1]);
      }
    });
    server.stderr.on('data', () => {});
    server.on('exit', (c) => rej(new Error('vigil serve exited ' + c + ': ' + buf)));
  });
  return { server, base };
}

/** Stops a server started by `startServe`: SIGTERM, then SIGKILL after 5 s. */
export async function stopServe(server) {
  if (!server || server.exitCode !== null) return;
  server.kill('SIGTERM');
  await new Promise((r) => {
    const t = setTimeout(() => {
      server.kill('SIGKILL');
      r();
    }, 5000);
    server.on('exit', () => {
      clearTimeout(t);
      r();
    });
  });
}
