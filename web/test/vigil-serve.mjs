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
