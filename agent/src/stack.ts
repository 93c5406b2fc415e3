// Stack trace parsing for Chrome/Edge (V8) and Firefox/Safari (`fn@url:line:col`) formats.
import type { Frame } from './types';

const LOC = /^(.*?):(\d+)(?::(\d+))?$/;

function loc(f: Frame, s: string): Frame {
  const m = LOC.exec(s);
  if (m) {
    f.file = m[1];
    if (+m[2] < 4294967296) f.line = +m[2];
    if (m[3] && +m[3] < 4294967296) f.column = +m[3];
  } else if (/[/:]/.test(s)) f.file = s; // a URL without a position, not "native" or "index 0"
  return f;
}

function v8(line: string): Frame | undefined {
  const m = /^\s*at (.*?)\s*$/.exec(line);
  if (!m) return undefined;
  let rest = m[1];
  let fn: string | undefined;
  const open = rest.indexOf(' (');
  if (open > 0 && rest.endsWith(')')) {
    fn = rest.slice(0, open);
    rest = rest.slice(open + 2, -1);
  }
  // eval frames: "eval at fn (https://x/a.js:1:2), <anonymous>:1:1": keep the script location.
  const ev = /\(([^()]+:\d+:\d+)\)/.exec(rest);
  if (/^eval at /.test(rest) && ev) rest = ev[1];
  const f = loc({}, rest);
  if (fn) f.function = fn;
  return f.file || f.function ? f : undefined;
}

function gecko(line: string): Frame | undefined {
  const i = line.lastIndexOf('@');
  const fn = line.slice(0, i).trim();
  // Firefox eval: "fn@https://x/a.js line 2 > eval:1:5": keep the script URL and its line.
  const r = line
    .slice(i + 1)
    .trim()
    .replace(/ line (\d+) > (?:eval|Function).*$/, ':$1');
  const f = loc({}, r);
  if (fn) f.function = fn;
  return f.file || f.function ? f : undefined;
}

/** Parsed frames, innermost first, at most 50. */
export function parseStack(stack: string | undefined | null): Frame[] {
  if (!stack || typeof stack != 'string') return [];
  const lines = stack.split('\n');
  const isV8 = lines.some((l) => /^\s*at /.test(l));
  const out: Frame[] = [];
  for (const l of lines) {
    if (out.length >= 50) break;
    const f = isV8 ? v8(l) : l.indexOf('@') >= 0 ? gecko(l) : undefined;
    if (f) out.push(f);
  }
  return out;
}
