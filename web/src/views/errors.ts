// Errors: counts by type and message.
import { Range, el, hrefWith, query, table } from "../lib";

export async function errorsView(pid: number, box: HTMLElement, { from, to }: Range): Promise<void> {
  const res = await query(pid, { metric: "errors", aggregations: ["count", "sessions"], group_by: ["error_type", "message"], from, to, limit: 200 });
  box.replaceChildren(el("h2", {}, "Errors"), el("div", { class: "card" }, table(res, { testid: "errors-table", linkCol: (v) => v === null ? null : hrefWith("/errors", "error_type", v) })));
}
