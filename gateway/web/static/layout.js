// The frame every signed-in page shares: navigation, the tenant, sign-out.
import { account, apiKey, forget, toSignIn } from "./api.js";
import { el } from "./dom.js";

const PAGES = [
  ["submit", "/web/submit", "Submit"],
  ["jobs", "/web/jobs", "Jobs"],
  ["operations", "/web/operations", "Operations"],
];

/** Draw the header; send a visitor without a key to sign-in. Returns false then. */
export function startPage(current) {
  if (!apiKey()) {
    toSignIn();
    return false;
  }
  const signOut = el("button", {
    type: "button",
    id: "sign-out",
    onclick: () => {
      forget();
      location.assign("/");
    },
    text: "Sign out",
  });
  const links = PAGES.map(([name, href, label]) =>
    el("a", { href, "aria-current": name === current ? "page" : null, text: label }),
  );
  const tenant = account()?.tenant ?? "";
  document.body.prepend(
    el(
      "header",
      { class: "top" },
      el("a", { class: "brand", href: "/web/jobs", text: "inferq" }),
      links,
      el("a", { href: "/docs", text: "API" }),
      el("span", { class: "who" }, "tenant ", el("strong", { id: "tenant", text: tenant })),
      signOut,
    ),
  );
  return true;
}
