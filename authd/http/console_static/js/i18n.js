// One JSON catalogue per language (i18n/<code>.json); the server lists the files it has.
let catalogue = {};
let fallback = {};

export async function languages() {
  const r = await fetch("i18n/languages.json");
  return r.json();
}

async function load(code) {
  const r = await fetch(`i18n/${encodeURIComponent(code)}.json`);
  if (!r.ok) throw new Error(`no catalogue ${code}`);
  return r.json();
}

export async function use(code) {
  if (!Object.keys(fallback).length) fallback = await load("en");
  catalogue = code === "en" ? fallback : await load(code);
  document.documentElement.lang = code;
  document.documentElement.dir = catalogue._dir || "ltr";
  sessionStorage.setItem("authd.lang", code);
  apply(document);
}

export function languageName(code, cat = catalogue) {
  return cat._name || code;
}

function lookup(cat, key) {
  return key.split(".").reduce((node, part) => (node && typeof node === "object" ? node[part] : undefined), cat);
}

// The text for `key`, with {name} placeholders filled from `vars`.
export function t(key, vars = {}) {
  let text = lookup(catalogue, key);
  if (typeof text !== "string") text = lookup(fallback, key);
  if (typeof text !== "string") text = key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

// The clerk's words for an API error code; unknown codes get a generic sentence.
export function errorText(code) {
  const known = lookup(catalogue, `errors.${code}`) ?? lookup(fallback, `errors.${code}`);
  return typeof known === "string" ? known : t("errors.unknown", { code });
}

export function apply(root) {
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
}

export function fetchCatalogue(code) {
  return load(code);
}
