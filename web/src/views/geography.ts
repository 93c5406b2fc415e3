// Geography: a world map coloured by a vital's p75 per country, with the table beside it.
import { query } from '../api';
import { el, svgEl } from '../dom';
import { fmtMetric } from '../format';
import { table } from '../tables';
import { href, navigate, param, Range, VITALS } from '../url';

interface WorldShapes {
  width: number;
  height: number;
  countries: { code: string; name: string; d: string }[];
}
let worldShapes: Promise<WorldShapes | null> | null = null;
/** Country shapes (built from world-atlas into dist/world.json), fetched once, on first use. */
function loadWorld(): Promise<WorldShapes | null> {
  worldShapes ??= fetch('/world.json', { credentials: 'same-origin' })
    .then((r) => (r.ok ? (r.json() as Promise<WorldShapes>) : null))
    .catch(() => null);
  return worldShapes;
}

function worldMap(world: WorldShapes, metric: string, values: Map<string, number>): HTMLElement {
  const vs = [...values.values()];
  const lo = Math.min(...vs),
    hi = Math.max(...vs);
  // green (lowest = best) to red (highest = worst) across the countries shown
  const colour = (v: number) =>
    `hsl(${Math.round(120 * (1 - (hi > lo ? (v - lo) / (hi - lo) : 0)))}, 65%, 45%)`;
  const svg = svgEl('svg', {
    viewBox: `0 0 ${world.width} ${world.height}`,
    class: 'world-map',
    'data-testid': 'geo-map',
    role: 'img',
    'aria-label': `p75 ${metric.toUpperCase()} by country`,
  });
  for (const c of world.countries) {
    const v = values.get(c.code);
    const path = svgEl('path', { d: c.d, class: v === undefined ? 'country no-data' : 'country' });
    const title = svgEl('title');
    title.textContent =
      v === undefined
        ? `${c.name}: no data`
        : `${c.name} (${c.code}): p75 ${metric.toUpperCase()} ${fmtMetric(metric, v)}`;
    path.append(title);
    if (v !== undefined) {
      path.setAttribute('fill', colour(v));
      path.setAttribute('data-testid', 'geo-country');
      path.setAttribute('data-country', c.code);
      path.setAttribute('data-value', String(v));
    }
    svg.append(path);
  }
  const legend = el(
    'div',
    { class: 'map-legend' },
    el('span', {}, `p75 ${metric.toUpperCase()}: `),
    el('span', { class: 'swatch best' }),
    ` ${vs.length ? fmtMetric(metric, lo) : '–'} `,
    el('span', { class: 'swatch worst' }),
    ` ${vs.length ? fmtMetric(metric, hi) : '–'}`,
    el('span', { class: 'swatch no-data' }),
    ' no data',
  );
  return el('div', {}, svg, legend);
}

export async function geography(pid: number, box: HTMLElement, { from, to }: Range): Promise<void> {
  const metric = param('metric', 'ttfb', VITALS);
  const [res, byMetric, world] = await Promise.all([
    query(pid, {
      metric: 'page_views',
      aggregations: ['count', 'sessions'],
      group_by: ['country'],
      from,
      to,
      limit: 300,
    }),
    query(pid, {
      metric,
      aggregations: ['p75', 'count'],
      group_by: ['country'],
      from,
      to,
      limit: 300,
    }),
    loadWorld(),
  ]);
  const ci = byMetric.columns.indexOf('country'),
    pi = byMetric.columns.indexOf('p75');
  const values = new Map<string, number>();
  for (const r of byMetric.rows)
    if (typeof r[ci] === 'string' && typeof r[pi] === 'number')
      values.set(r[ci] as string, r[pi] as number);
  const msel = el('select', { name: 'metric', 'data-testid': 'geo-metric' });
  for (const v of VITALS) {
    const o = el('option', { value: v }, `p75 ${v.toUpperCase()}`);
    if (v === metric) o.selected = true;
    msel.append(o);
  }
  msel.addEventListener('change', () => navigate(href(location.pathname, { metric: msel.value })));
  const mapCard = el(
    'div',
    { class: 'card geo-map-card' },
    el('div', { class: 'controls' }, el('label', {}, 'colour by ', msel)),
    world ? worldMap(world, metric, values) : el('p', { class: 'muted' }, 'map unavailable'),
  );
  const credit = el('p', { class: 'credit', 'data-testid': 'geo-credit' });
  const a = el(
    'a',
    { href: 'https://db-ip.com/', rel: 'noopener noreferrer', target: '_blank' },
    'DB-IP',
  );
  credit.append('IP geolocation by ', a);
  box.replaceChildren(
    el('h2', {}, 'Geography'),
    el(
      'div',
      { class: 'geo-layout' },
      mapCard,
      el('div', { class: 'card geo-table-card' }, table(res, { testid: 'geo-table' })),
    ),
    credit,
  );
}
