// Tables of query results (sortable through the URL, with a CSV download) and the
// operations on results that feed them.
import { col } from './api';
import type { Cell, QueryResult } from './api';
import { el } from './dom';
import type { Child } from './dom';
import { fmtCell, fmtMetric, fmtNum } from './format';
import { appliesHere, href, link, param, urlFilters } from './url';

export function emptyNote(testid: string): HTMLElement {
  return el(
    'p',
    { class: 'empty', 'data-testid': testid },
    urlFilters().some(appliesHere)
      ? 'No data for this range and these filters.'
      : 'No data for this range.',
  );
}
/** `sortable`: every column, or the listed ones, get header links setting `sort`/`dir` in the URL. */
/** A table of a query result. `linkCol` links the first column by its value; `links` link any column by the whole row. */
export function table(
  res: QueryResult,
  opts: {
    metricCols?: Record<string, string>;
    fmt?: Record<string, (v: Cell) => string>;
    linkCol?: (v: Cell) => string | null;
    links?: Record<string, (row: Cell[]) => string | null>;
    /** Attributes of a row's `tr` (e.g. marking the selected one). */
    rowAttrs?: (row: Cell[]) => Record<string, string>;
    testid?: string;
    sortable?: boolean | string[];
  } = {},
): HTMLElement {
  if (!res.rows.length) return emptyNote((opts.testid ?? 'table') + '-empty');
  const numeric = res.columns.map((_, i) => res.rows.some((r) => typeof r[i] === 'number'));
  const sortCol = param('sort', ''),
    desc = param('dir', 'desc') !== 'asc';
  const head = (c: string): Child => {
    if (!opts.sortable || (Array.isArray(opts.sortable) && !opts.sortable.includes(c))) return c;
    const on = c === sortCol;
    return link(
      c + (on ? (desc ? ' ▼' : ' ▲') : ''),
      href(location.pathname, { sort: c, dir: on && desc ? 'asc' : 'desc' }),
      'sort',
    );
  };
  const thead = el(
    'thead',
    {},
    el(
      'tr',
      {},
      ...res.columns.map((c, i) => el('th', { class: numeric[i] ? 'num' : '' }, head(c))),
    ),
  );
  const tbody = el('tbody');
  for (const row of res.rows) {
    const tr = el('tr', opts.rowAttrs?.(row) ?? {});
    row.forEach((v, i) => {
      const c = res.columns[i];
      const m = opts.metricCols?.[c];
      const f = opts.fmt?.[c];
      const text = f ? f(v) : m ? fmtMetric(m, v) : typeof v === 'number' ? fmtNum(v) : fmtCell(v);
      const td = el('td', { class: numeric[i] ? 'num' : 'wrap' });
      const url = i === 0 && opts.linkCol ? opts.linkCol(v) : (opts.links?.[c]?.(row) ?? null);
      td.append(url ? link(text, url) : document.createTextNode(text));
      if (typeof v === 'number') td.setAttribute('data-raw', String(v));
      tr.append(td);
    });
    tbody.append(tr);
  }
  const tableEl = el('table', { 'data-testid': opts.testid ?? 'table' }, thead, tbody);
  return el('div', { class: 'table-box' }, csvButton(res, opts.testid ?? 'table'), tableEl);
}

/** One CSV field: quoted when needed; text that a spreadsheet would run as a formula is defused. */
function csvField(v: Cell): string {
  if (v === null) return '';
  let t = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(t)) t = "'" + t;
  return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}
/** Downloads a result as CSV, with the raw values (not the formatted ones). */
export function csvButton(res: QueryResult, name: string): HTMLButtonElement {
  const b = el(
    'button',
    { type: 'button', class: 'csv', 'data-testid': `${name}-csv`, title: 'Download as CSV' },
    'CSV',
  );
  b.addEventListener('click', () => {
    const text =
      [res.columns, ...res.rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
    const a = el('a', {
      href: URL.createObjectURL(new Blob([text], { type: 'text/csv' })),
      download: `vigil-${name}.csv`,
    });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
  return b;
}

/** Joins grouped query results on their first column: key -> one value per (result, column). */
export function joinOn(
  key: string,
  parts: [QueryResult, string, string][],
  fill: Record<string, Cell> = {},
): QueryResult {
  const rows = new Map<string, Cell[]>();
  const keys: Cell[] = [];
  parts.forEach(([res, c], k) => {
    const ki = col(res, key),
      vi = col(res, c);
    for (const r of res.rows) {
      const id = JSON.stringify(r[ki]);
      let row = rows.get(id);
      if (!row) {
        if (k > 0) continue; // the first result defines the rows
        row = [r[ki], ...parts.map(([, , name]) => fill[name] ?? null)];
        rows.set(id, row);
        keys.push(r[ki]);
      }
      row[k + 1] = r[vi];
    }
  });
  return { columns: [key, ...parts.map(([, , name]) => name)], rows: [...rows.values()] };
}
export function sortRows(res: QueryResult): QueryResult {
  const i = col(res, param('sort', ''));
  if (i < 0) return res;
  const dir = param('dir', 'desc') === 'asc' ? 1 : -1;
  const rows = [...res.rows].sort((a, b) => {
    const x = a[i],
      y = b[i];
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1; // nulls last
    return (
      (typeof x === 'number' && typeof y === 'number'
        ? x - y
        : String(x).localeCompare(String(y))) * dir
    );
  });
  return { columns: res.columns, rows };
}
