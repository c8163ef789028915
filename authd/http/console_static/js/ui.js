// Small DOM helpers shared by the screens.
import { t, errorText } from "./i18n.js";

export const $ = (sel, root = document) => root.querySelector(sel);

// An element with text content only (never innerHTML with data).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name === "i18n") { node.dataset.i18n = value; node.textContent = t(value); }
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

export function flash(message, kind = "error") {
  const box = $("#flash");
  box.textContent = message;
  box.className = `flash ${kind}`;
  box.hidden = !message;
}

export function flashError(error) {
  flash(errorText(error.code || "network_error"));
}

export function when(epoch) {
  const lang = document.documentElement.lang || "en";
  return new Intl.DateTimeFormat(`${lang}-u-nu-latn`, { dateStyle: "medium", timeStyle: "medium" })
    .format(new Date(epoch * 1000));
}

export function show(box, ...children) {
  box.replaceChildren(...children);
  box.hidden = children.length === 0;
  if (children.length) box.scrollIntoView({ block: "nearest" });
}

// An API error on a screen: a dead key signs out (app.js listens), anything else is shown.
export function handle(error) {
  if (error.status === 401 && error.code === "invalid_client") {
    document.dispatchEvent(new CustomEvent("authd:unauthorized", { detail: error }));
  } else {
    flashError(error);
  }
}
