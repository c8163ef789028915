// Adjudication (scope admin): open dedup cases, resolved distinct/duplicate with a reason.
import * as api from "./api.js";
import { t, errorText } from "./i18n.js";
import { $, el, flash, handle, when } from "./ui.js";

export function adjudicationScreen() {
  const list = $("#adj-list");
  let cases = [];
  const notes = {};  // case id -> {kind, text key or code}

  // The threshold the case was opened at (stored with the case), as a score and a distance.
  const threshold = (c) => {
    if (c.threshold == null) return [];
    const words = [t("adj.threshold", { score: Math.max(0, 1 - c.threshold / 2).toFixed(3), distance: c.threshold.toFixed(3) })];
    words.push(c.threshold_fmr == null ? t("adj.threshold_manual") : t("adj.threshold_fmr", { fmr: c.threshold_fmr.toExponential(1) }));
    return [el("p", { class: "threshold", "data-threshold": String(c.threshold) }, words.join(" "))];
  };

  const caseCard = (c) => {
    const rows = c.candidates.map((x) => el("tr", {}, el("td", {}, x.rank), el("td", { class: "mono" }, x.uin),
      el("td", {}, x.score.toFixed(3))));
    const reason = el("input", { class: "reason", maxlength: "1000", "aria-label": t("adj.reason") });
    reason.placeholder = t("adj.reason");
    const decide = (decision) => async () => {
      if (reason.value.trim().length < 3) { flash(t("adj.needreason")); return; }
      try {
        await api.call("POST", `/v1/dedup/cases/${encodeURIComponent(c.case_id)}/resolve`,
          { decision, reason: reason.value.trim() });
        notes[c.case_id] = { kind: "ok", text: t(`adj.resolved_${decision}`) };
        flash(t(`adj.resolved_${decision}`), "ok");
        await refresh(false);
      } catch (error) {
        if (error.code === "four_eyes_required") {
          notes[c.case_id] = { kind: "warn", text: `${errorText(error.code)} ${t("adj.foureyes_next")}` };
          draw();
        } else handle(error);
      }
    };
    const distinct = el("button", { type: "button", class: "distinct", i18n: "adj.distinct" });
    const duplicate = el("button", { type: "button", class: "duplicate", i18n: "adj.duplicate" });
    distinct.addEventListener("click", decide("distinct"));
    duplicate.addEventListener("click", decide("duplicate"));
    const note = notes[c.case_id];
    return el("article", { class: "card case", "data-case": c.case_id },
      el("h2", {}, t("adj.case"), " ", el("span", { class: "mono" }, c.case_id)),
      el("p", {}, t("enroll.uin"), " ", el("strong", { class: "mono" }, c.uin), " · ", t("adj.opened", { at: when(c.opened_at) })),
      el("table", { class: "table" },
        el("thead", {}, el("tr", {}, el("th", { i18n: "adj.rank" }), el("th", { i18n: "adj.uin" }), el("th", { i18n: "adj.score" }))),
        el("tbody", {}, ...rows)),
      el("p", { class: "hint" }, t("adj.scorehint")),
      ...threshold(c),
      reason, el("div", { class: "row" }, distinct, duplicate),
      ...(note ? [el("p", { class: `note ${note.kind}`, role: "status" }, note.text)] : []));
  };

  const draw = () => {
    list.replaceChildren(...(cases.length ? cases.map(caseCard) : [el("p", { class: "hint", id: "adj-empty", i18n: "adj.none" })]));
  };

  async function refresh(clear = true) {
    if (clear) flash("");
    try {
      cases = await api.call("GET", "/v1/dedup/cases?status=open&limit=50");
    } catch (error) { handle(error); return; }
    draw();
  }

  $("#adj-refresh").addEventListener("click", () => refresh());
  return { opened: () => refresh(), relabel: draw, reset() { cases = []; Object.keys(notes).forEach((k) => delete notes[k]); list.replaceChildren(); } };
}
