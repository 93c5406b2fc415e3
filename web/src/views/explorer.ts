// Performance explorer: a vital at a percentile, over time and grouped by any dimension.
import uPlot from "uplot";
import { GROUPS, PCTS, QueryResult, Range, VITALS, attributeFields, col, el, emptyNote, fmtMetric, href, navigate, param, plot, query, table } from "../lib";

export async function explorer(pid: number, box: HTMLElement, { from, to, bucket }: Range): Promise<void> {
  const metric = param("metric", "lcp", VITALS);
  const pct = param("percentile", "p75", PCTS);
  const groups = [...GROUPS, ...await attributeFields(pid)];
  const group = param("group", "page_path", groups);
  const sel = (name: string, values: string[], cur: string) => {
    const s = el("select", { name, "data-testid": name });
    for (const v of values) { const o = el("option", { value: v }, v); if (v === cur) o.selected = true; s.append(o); }
    s.addEventListener("change", () => navigate(href(location.pathname, { [name]: s.value })));
    return el("label", {}, name, s);
  };
  const controls = el("div", { class: "controls" }, sel("metric", VITALS, metric), sel("percentile", PCTS, pct), sel("group", groups, group));
  const base = { metric, from, to };
  const [series, tab] = await Promise.all([
    query(pid, { ...base, aggregations: [pct, "count"], group_by: [bucket], limit: 10000 }),
    query(pid, { ...base, aggregations: [pct, "count"], group_by: [group], order_by: "count", ascending: false, limit: 100 }),
  ]);
  // one line per top group (by sample count), besides the overall line
  const gi = col(tab, group);
  const top = tab.rows.slice(0, 5).map((r) => r[gi]).filter((v): v is string | number | boolean => v !== null);
  const perGroup = top.length
    ? await query(pid, { ...base, filters: [{ field: group, op: "in", value: top }], aggregations: [pct], group_by: [group, bucket], limit: 10000 })
    : { columns: [], rows: [] } as QueryResult;
  const chartBox = el("div", { "data-testid": "chart" });
  box.replaceChildren(el("h2", {}, "Performance explorer"), controls,
    el("div", { class: "card" }, el("h3", {}, `${metric.toUpperCase()} ${pct} over time (top ${top.length} ${group} values and all)`), series.rows.length ? chartBox : emptyNote("chart-empty")),
    el("div", { class: "card" }, el("h3", {}, `${metric.toUpperCase()} ${pct} by ${group}`), table(tab, { metricCols: { [pct]: metric }, testid: "explorer-table" })));
  if (series.rows.length) {
    const ti = col(series, "time"), vi = col(series, pct);
    const times = series.rows.map((r) => Number(r[ti]));
    const idx = new Map(times.map((t, i) => [t, i]));
    const data: (number | null)[][] = [times.map((t) => t / 1000), series.rows.map((r) => (typeof r[vi] === "number" ? (r[vi] as number) : null))];
    const COLORS = ["#e67e22", "#16a085", "#8e44ad", "#c0392b", "#7f8c8d"];
    const seriesOpts: uPlot.Series[] = [{}, { label: `all`, stroke: "#2a5bd7", width: 2, value: (_u, v) => fmtMetric(metric, v) }];
    const pg = col(perGroup, group), pt = col(perGroup, "time"), pv = col(perGroup, pct);
    top.forEach((g, k) => {
      const ys: (number | null)[] = times.map(() => null);
      for (const r of perGroup.rows) {
        if (r[pg] !== g) continue;
        const i = idx.get(Number(r[pt]));
        if (i !== undefined && typeof r[pv] === "number") ys[i] = r[pv] as number;
      }
      data.push(ys);
      seriesOpts.push({ label: String(g), stroke: COLORS[k % COLORS.length], width: 1, value: (_u, v) => fmtMetric(metric, v) });
    });
    plot(chartBox, { height: 280, series: seriesOpts, axes: [{}, { values: (_u, vals) => vals.map((v) => fmtMetric(metric, v)), size: 70 }] }, data);
  } else plot();
}
