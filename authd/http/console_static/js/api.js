// The public /v1 API with the signed-in key; the key lives in sessionStorage only.
const KEY = "authd.key";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.code || `http_${status}`);
    this.status = status;
    this.code = error.code || (status === 0 ? "network_error" : `http_${status}`);
    this.body = error;
  }
}

export function setKey(key) { sessionStorage.setItem(KEY, key); }
export function getKey() { return sessionStorage.getItem(KEY); }
export function clearKey() { sessionStorage.removeItem(KEY); }

export async function call(method, path, body, key = getKey()) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
    });
  } catch {
    throw new ApiError(0, null);
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
