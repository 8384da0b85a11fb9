// Sign-in: check the key against GET /v1/tenant, keep it in this tab's session only.
import { account, apiKey, forget, remember, request, safeNext } from "./api.js";
import { byId, fill, showError } from "./dom.js";

const next = safeNext(new URLSearchParams(location.search).get("next"));

function showSignedIn() {
  byId("signed-out").classList.add("hidden");
  byId("signed-in").classList.remove("hidden");
  fill(byId("tenant"), account()?.tenant ?? "");
  byId("continue").setAttribute("href", next);
}

byId("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = byId("key").value.trim();
  fill(byId("message"), "Checking the key…");
  try {
    remember(key, await request("/v1/tenant", { key }));
    location.assign(next);
  } catch (error) {
    showError(byId("message"), error.status === 401 ? "This key is unknown or revoked." : error);
  } finally {
    byId("key").value = "";
  }
});

byId("sign-out").addEventListener("click", () => {
  forget();
  location.assign("/");
});

if (apiKey()) showSignedIn();
