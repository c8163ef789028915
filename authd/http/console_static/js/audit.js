// Audit (scope admin): search events by subject, relying party, action, outcome, reason, time.
import * as api from "./api.js";
import { t } from "./i18n.js";
import { classifyId } from "./verhoeff.js";
import { $, el, flash, handle, when } from "./ui.js";

export function auditScreen() {
  const table = $("#audit-table");
  const body = table.querySelector("tbody");
  let params = null;
  let cursor = null;
  let events = [];

  const epoch = (sel) => {
    const value = $(sel).value;
    return value ? String(Math.floor(new Date(value).getTime() / 1000)) : null;
  };

  const draw = () => {
    body.replaceChildren(...events.map((e) => el("tr", { "data-seq": e.seq },
      el("td", {}, e.seq), el("td", {}, when(e.at)), el("td", {}, e.rp_id || ""),
      el("td", { class: "mono" }, e.action),
      el("td", { class: `outcome ${e.outcome}` }, t(`outcome.${e.outcome}`)),
      el("td", { class: "mono" }, e.reason || ""), el("td", { class: "mono" }, e.subject || ""),
      el("td", {}, e.factor || ""))));
    table.hidden = events.length === 0;
    $("#audit-count").textContent = params ? t("audit.count", { n: events.length }) : "";
    $("#audit-more").hidden = !cursor;
  };

  async function page() {
    const query = new URLSearchParams(params);
    if (cursor) query.set("cursor", cursor);
    try {
      const answer = await api.call("GET", `/v1/audit/events?${query}`);
      events = events.concat(answer.events);
      cursor = answer.next_cursor;
    } catch (error) { handle(error); return; }
    draw();
  }

  $("#audit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("#audit-id").value.trim();
    const next = { limit: "50" };
    if (id) {
      const { kind, state } = classifyId(id);
      if (state !== "ok") { flash(t("id.fix")); return; }
      next[kind] = id;
    }
    for (const [name, sel] of [["rp_id", "#audit-rp"], ["action", "#audit-action"],
      ["outcome", "#audit-outcome"], ["reason", "#audit-reason"]]) {
      const value = $(sel).value.trim();
      if (value) next[name] = value;
    }
    const since = epoch("#audit-since");
    const until = epoch("#audit-until");
    if (since) next.since = since;
    if (until) next.until = until;
    flash("");
    params = next;
    cursor = null;
    events = [];
    page();
  });
  $("#audit-more").addEventListener("click", page);
  return { relabel: draw, reset() { params = null; cursor = null; events = []; draw(); } };
}
