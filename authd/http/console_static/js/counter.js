// Counter (scope auth): UIN/VID checked as typed, OTP and/or face, the result in large type.
import * as api from "./api.js";
import { Camera } from "./camera.js";
import { t, errorText } from "./i18n.js";
import { classifyId } from "./verhoeff.js";
import { $, el, flash, handle, show, when } from "./ui.js";

export const QUALITY = new Set(["face_not_found", "multiple_faces", "face_too_small",
  "image_too_dark", "image_overexposed", "image_blurry", "image_unreadable", "image_too_large"]);

export function idWatcher(input, status) {
  const update = () => {
    const clean = input.value.replace(/[^0-9]/g, "");
    if (clean !== input.value) input.value = clean;
    const { kind, state } = classifyId(clean);
    status.dataset.state = state;
    status.textContent = state === "ok" ? t(`id.ok_${kind}`) : state === "bad" ? t("id.bad")
      : state === "partial" ? t("id.partial", { n: clean.length }) : "";
    return { kind, state, value: clean };
  };
  input.addEventListener("input", update);
  return update;
}

export function counterScreen() {
  const camera = new Camera($("#counter-camera"));
  const readId = idWatcher($("#counter-id"), $("#counter-id-state"));
  const result = $("#counter-result");
  let txn = null;
  let lastResult = null;

  const factorBox = (name) => $(`#counter-factors input[value="${name}"]`);
  const chosen = () => ["otp", "face"].filter((f) => !factorBox(f).closest("label").hidden
    && factorBox(f).checked);
  const sync = () => {
    $("#counter-otp").hidden = !chosen().includes("otp");
    $("#counter-camera").hidden = !chosen().includes("face");
  };
  document.querySelectorAll("#counter-factors input").forEach((box) => box.addEventListener("change", sync));

  $("#counter-send").addEventListener("click", async () => {
    const id = readId();
    if (id.state !== "ok") { flash(t("id.fix")); return; }
    const channel = $("#counter-channel").value;
    try {
      const answer = await api.call("POST", "/v1/otp", {
        individual_id: id.value, id_type: id.kind, channels: [channel],
      });
      txn = answer.txn_id;
      $("#counter-sent").textContent = t("otp.sent", {
        to: answer.destinations[channel] || "—", until: when(answer.expires_at),
      });
      flash("");
    } catch (error) { handle(error); }
  });

  const render = () => {
    if (!lastResult) return;
    const { ok, expires, token, code } = lastResult;
    if (ok) {
      const copy = el("button", { type: "button", class: "copy", i18n: "result.copy" });
      copy.addEventListener("click", async () => {
        try { await navigator.clipboard.writeText(token); copy.textContent = t("result.copied"); }
        catch { flash(t("result.nocopy")); }
      });
      show(result, el("p", { class: "verdict ok", id: "verdict", "data-outcome": "authenticated", i18n: "result.ok" }),
        el("p", {}, t("result.expires", { at: when(expires) })), copy);
    } else if (code && QUALITY.has(code)) {
      const retake = el("button", { type: "button", class: "primary", i18n: "camera.retake" });
      retake.addEventListener("click", () => { camera.retake(); show(result); });
      show(result, el("p", { class: "verdict warn", id: "verdict", "data-outcome": code }, errorText(code)), retake);
    } else {
      show(result, el("p", { class: "verdict bad", id: "verdict", "data-outcome": "not_authenticated", i18n: "result.bad" }),
        el("p", { class: "hint" }, errorText(code || "authentication_failed")));
    }
  };

  $("#counter-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = readId();
    if (id.state !== "ok") { flash(t("id.fix")); return; }
    const factors = {};
    const body = { individual_id: id.value, id_type: id.kind, factors };
    if (chosen().includes("otp")) {
      const code = $("#counter-code").value.trim();
      if (!txn || !/^[0-9]{6}$/.test(code)) { flash(t("otp.missing")); return; }
      factors.otp = code;
      body.txn_id = txn;
    }
    if (chosen().includes("face")) {
      if (!camera.photo) { flash(t("camera.missing")); return; }
      factors.face = { image_b64: camera.photo };
    }
    if (!Object.keys(factors).length) { flash(t("counter.nofactor")); return; }
    flash("");
    try {
      const answer = await api.call("POST", "/v1/authenticate", body);
      lastResult = { ok: true, expires: answer.expires_at, token: answer.token };
      txn = null;
    } catch (error) {
      if (error.status === 401 && error.code === "invalid_client") { handle(error); return; }
      if (![401, 413, 422].includes(error.status)) { handle(error); return; }
      lastResult = { ok: false, code: error.code };
    }
    render();
  });

  return {
    configure(me) {
      // One factor ticked to start with: the OTP when the program allows it.
      const first = ["otp", "face"].find((name) => me.allowed_factors.includes(name));
      for (const name of ["otp", "face"]) {
        factorBox(name).closest("label").hidden = !me.allowed_factors.includes(name);
        factorBox(name).checked = name === first;
      }
      sync();
    },
    relabel() { readId(); render(); },
    reset() { camera.stop(); camera.retake(); txn = null; lastResult = null; show(result); $("#counter-id").value = ""; readId(); },
  };
}
