// The console's entry point: language, sign-in, and the screens the key's scopes allow.
import * as api from "./api.js";
import * as i18n from "./i18n.js";
import { $, flash, flashError } from "./ui.js";
import { counterScreen } from "./counter.js";
import { enrollScreen } from "./enroll.js";
import { adjudicationScreen } from "./adjudicate.js";
import { auditScreen } from "./audit.js";

const screens = {};
let me = null;

async function setupLanguages() {
  const select = $("#lang");
  const codes = await i18n.languages();
  for (const code of codes) {
    const cat = await i18n.fetchCatalogue(code);
    const option = document.createElement("option");
    option.value = code;
    option.textContent = i18n.languageName(code, cat);
    select.append(option);
  }
  const wanted = sessionStorage.getItem("authd.lang")
    || (navigator.language || "en").slice(0, 2);
  select.value = codes.includes(wanted) ? wanted : "en";
  await i18n.use(select.value);
  select.addEventListener("change", async () => {
    await i18n.use(select.value);
    Object.values(screens).forEach((screen) => screen.relabel && screen.relabel());
    if (me) showWho();
  });
}

function showWho() {
  $("#who").textContent = i18n.t("signin.as", { rp: me.rp_name, key: me.key_id });
}

function open(name) {
  document.querySelectorAll(".screen").forEach((s) => { s.hidden = s.id !== name; });
  document.querySelectorAll("#nav button").forEach((b) => {
    b.setAttribute("aria-current", b.dataset.screen === name ? "page" : "false");
  });
  flash("");
  if (screens[name] && screens[name].opened) screens[name].opened();
}

async function signIn(key) {
  try {
    me = await api.call("GET", "/v1/clients/me", undefined, key);
  } catch (error) {
    me = null;
    flashError(error);
    return;
  }
  api.setKey(key);
  $("#signin-key").value = "";
  const allowed = new Set(me.scopes);
  let first = null;
  document.querySelectorAll("#nav button").forEach((b) => {
    b.hidden = !allowed.has(b.dataset.scope);
    if (!b.hidden && !first) first = b.dataset.screen;
  });
  $("#nav").hidden = false;
  $("#signout").hidden = false;
  showWho();
  screens.counter.configure(me);
  if (!first) { flash(i18n.t("signin.noscreen")); return; }
  open(first);
}

function signOut() {
  api.clearKey();
  me = null;
  Object.values(screens).forEach((screen) => screen.reset && screen.reset());
  $("#nav").hidden = true;
  $("#signout").hidden = true;
  $("#who").textContent = "";
  open("signin");
}

// A 401 anywhere means the key is no longer valid: back to sign-in, saying why.
document.addEventListener("authd:unauthorized", (event) => {
  signOut();
  flashError(event.detail);
});

async function main() {
  await setupLanguages();
  screens.counter = counterScreen();
  screens.enroll = enrollScreen();
  screens.adjudicate = adjudicationScreen();
  screens.audit = auditScreen();
  $("#signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("#signin-key").value.trim();
    if (key) signIn(key);
  });
  $("#signout").addEventListener("click", signOut);
  document.querySelectorAll("#nav button").forEach((b) => {
    b.addEventListener("click", () => open(b.dataset.screen));
  });
  const kept = api.getKey();
  if (kept) await signIn(kept);
  document.body.dataset.ready = "1";
}

main();
