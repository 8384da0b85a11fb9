// Calls to the API with the key of this browser tab, which lives in sessionStorage only:
// never in a URL or a cookie, gone when the tab closes or on sign-out.
import { el } from "./dom.js";

const KEY = "inferq.key";
const ACCOUNT = "inferq.account";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

/** The tenant and upload limits GET /v1/tenant gave at sign-in. */
export function account() {
  return JSON.parse(sessionStorage.getItem(ACCOUNT) ?? "null");
}

export function remember(key, found) {
  sessionStorage.setItem(KEY, key);
  sessionStorage.setItem(ACCOUNT, JSON.stringify(found));
}

export function forget() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(ACCOUNT);
}

/** Where sign-in sends the browser back to: only a page of this site. */
export function safeNext(value) {
  return value && value.startsWith("/web/") && !value.includes("//") ? value : "/web/jobs";
}

export function toSignIn() {
  const next = encodeURIComponent(location.pathname + location.search);
  location.assign(`/?next=${next}`);
}

function url(path, params = {}) {
  const target = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params)) {
    for (const each of [value].flat()) {
      if (each !== null && each !== undefined && each !== "") target.searchParams.append(name, each);
    }
  }
  return target;
}

async function failure(response) {
  let detail = response.statusText || `HTTP ${response.status}`;
  try {
    detail = (await response.json()).detail ?? detail;
  } catch {
    // not JSON: keep the status text
  }
  return new ApiError(response.status, `${detail} (HTTP ${response.status})`);
}

/** Call the API; answer its JSON (or the response itself with raw). A 401 signs out. */
export async function request(path, { method = "GET", params, body, key, raw = false, headers = {} } = {}) {
  const response = await fetch(url(path, params), {
    method,
    body,
    headers: { ...headers, Authorization: `Bearer ${key ?? apiKey()}` },
    credentials: "omit",
    cache: "no-store",
  });
  if (response.status === 401 && key === undefined) {
    forget();
    toSignIn();
  }
  if (!response.ok) throw await failure(response);
  return raw ? response : response.json();
}

/** POST (or another method) a JSON body; answer the JSON. */
export function send(path, value, method = "POST") {
  return request(path, { method, body: JSON.stringify(value), headers: { "Content-Type": "application/json" } });
}

/** Fetch a resource (with the key) as a Blob. */
export async function blob(path, params) {
  return (await request(path, { params, raw: true })).blob();
}

/** Hand a Blob to the browser as a download under a file name. */
export function save(data, filename) {
  const link = el("a", { href: URL.createObjectURL(data), download: filename, class: "hidden" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 30000);
}

/** Download an API resource: fetched with the key, then saved from a blob URL. */
export async function download(path, params, filename) {
  save(await blob(path, params), filename);
}

/** POST a form with upload progress (fetch reports none); resolves with the JSON answer. */
export function upload(path, form, { onProgress, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url(path));
    xhr.setRequestHeader("Authorization", `Bearer ${apiKey()}`);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => onProgress?.(event.loaded));
    xhr.addEventListener("error", () => reject(new ApiError(0, "the gateway could not be reached")));
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr.response);
      const detail = xhr.response?.detail ?? xhr.statusText;
      if (xhr.status === 401) forget();
      reject(new ApiError(xhr.status, `${detail} (HTTP ${xhr.status})`));
    });
    xhr.send(form);
  });
}
