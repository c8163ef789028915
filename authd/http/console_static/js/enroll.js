// Enrollment (scope enroll): an identity with its face; a possible duplicate shows its case.
import * as api from "./api.js";
import { Camera } from "./camera.js";
import { t, errorText } from "./i18n.js";
import { QUALITY } from "./counter.js";
import { $, el, flash, handle, show } from "./ui.js";

export function enrollScreen() {
  const camera = new Camera($("#enroll-camera"));
  const result = $("#enroll-result");
  let last = null;

  const candidates = (list) => {
    const rows = list.map((c) => el("tr", {}, el("td", {}, c.rank), el("td", { class: "mono" }, c.uin),
      el("td", {}, c.score.toFixed(3))));
    return el("table", { class: "table", id: "enroll-candidates" },
      el("thead", {}, el("tr", {}, el("th", { i18n: "adj.rank" }), el("th", { i18n: "adj.uin" }),
        el("th", { i18n: "adj.score" }))),
      el("tbody", {}, ...rows));
  };

  const render = () => {
    if (!last) return;
    if (last.identity) {
      const who = last.identity;
      show(result, el("p", { class: "verdict ok", id: "enroll-verdict", "data-outcome": "enrolled", i18n: "enroll.done" }),
        el("p", {}, t("enroll.uin"), " ", el("strong", { class: "mono", id: "enroll-uin" }, who.uin)),
        el("p", { class: "hint" }, who.has_face ? t("enroll.withface") : t("enroll.noface")));
    } else if (last.error.code === "possible_duplicate") {
      const body = last.error.body;
      show(result, el("p", { class: "verdict warn", id: "enroll-verdict", "data-outcome": "possible_duplicate" }, errorText("possible_duplicate")),
        el("p", {}, t("enroll.case"), " ", el("strong", { class: "mono", id: "enroll-case" }, body.case_id)),
        el("p", {}, t("enroll.uin"), " ", el("strong", { class: "mono" }, body.uin), " — ", t("enroll.pending")),
        candidates(body.candidates || []));
    } else {
      const retake = el("button", { type: "button", class: "primary", i18n: "camera.retake" });
      retake.addEventListener("click", () => { camera.retake(); show(result); });
      show(result, el("p", { class: "verdict bad", id: "enroll-verdict", "data-outcome": last.error.code }, errorText(last.error.code)),
        ...(QUALITY.has(last.error.code) ? [retake] : []));
    }
  };

  $("#enroll-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    const fields = { name: "#enroll-name", date_of_birth: "#enroll-dob", sex: "#enroll-sex",
      phone: "#enroll-phone", email: "#enroll-email" };
    for (const [name, sel] of Object.entries(fields)) {
      const value = $(sel).value.trim();
      if (value) body[name] = value;
    }
    if (!body.name) { flash(t("enroll.needname")); return; }
    if (camera.photo) body.face = { image_b64: camera.photo };
    flash("");
    try {
      last = { identity: await api.call("POST", "/v1/identities", body) };
      $("#enroll-form").reset();
      camera.retake();
    } catch (error) {
      if (error.status === 401 || error.status === 403 || error.status >= 500 || error.status === 0) {
        handle(error); return;
      }
      last = { error };
    }
    render();
  });

  return {
    relabel: render,
    reset() { camera.stop(); camera.retake(); last = null; show(result); },
  };
}
