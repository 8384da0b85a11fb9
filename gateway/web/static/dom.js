// Building the page: every value goes in as text (createElement, textContent), never as HTML.

/** Create an element; `props` sets attributes (text: its text, on*: listeners). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...nodes(children));
  return node;
}

/** Turn values into nodes: strings and numbers become text nodes. */
export function nodes(children) {
  return children
    .flat(Infinity)
    .filter((child) => child !== null && child !== undefined && child !== false)
    .map((child) => (child instanceof Node ? child : document.createTextNode(String(child))));
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren(...nodes(children));
  return node;
}

export function byId(id) {
  return document.getElementById(id);
}

/** A status badge. */
export function badge(status) {
  return el("span", { class: `status status-${status}`, text: status ?? "" });
}

/** Show an error (an ApiError's detail, or any message) in a node. */
export function showError(node, error) {
  fill(node, el("p", { class: "error", role: "alert", text: error?.message ?? String(error) }));
}

export const format = {
  ms: (value) => (value === null || value === undefined ? "" : `${Number(value).toFixed(1)} ms`),
  probability: (value) => (value === null || value === undefined ? "" : Number(value).toFixed(3)),
  percent: (value) => (value === null || value === undefined ? "" : `${Math.round(value * 100)} %`),
  time: (iso) => (iso ? new Date(iso).toLocaleString() : ""),
  bytes: (n) => (n < 1048576 ? `${(n / 1024).toFixed(0)} KiB` : `${(n / 1048576).toFixed(1)} MiB`),
};
