// Build-time: turns world-atlas's Natural Earth 1:110m country shapes into projected SVG path
// strings keyed by ISO 3166-1 alpha-2 code (dist/world.json), fetched by the Geography view
// only, so the shapes stay out of app.js and the critical path.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { feature } from 'topojson-client';
import { geoNaturalEarth1, geoPath } from 'd3-geo';

const require = createRequire(import.meta.url);

export function buildWorld(outFile) {
  const topo = JSON.parse(readFileSync(require.resolve('world-atlas/countries-110m.json'), 'utf8'));
  const alpha2 = JSON.parse(
    readFileSync(new URL('./src/iso-numeric.json', import.meta.url), 'utf8'),
  );
  const byName = { Kosovo: 'XK' };
  const fc = feature(topo, topo.objects.countries);
  fc.features = fc.features.filter((f) => f.id !== '010'); // Antarctica: no visitors, lots of area
  const width = 960,
    height = 470;
  const projection = geoNaturalEarth1().fitSize([width, height], fc);
  const path = geoPath(projection).digits(1);
  const countries = [];
  for (const f of fc.features) {
    const code = (f.id && alpha2[f.id]) || byName[f.properties?.name];
    const d = path(f);
    if (!code || !d) continue;
    countries.push({ code, name: f.properties?.name ?? code, d });
  }
  writeFileSync(outFile, JSON.stringify({ width, height, countries }));
  return countries.length;
}
