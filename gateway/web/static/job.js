// One job: progress, per-patient summary, the results table (sort, filter, pages), downloads.
import { blob, download, request, save } from "./api.js";
import { badge, byId, el, fill, format, showError } from "./dom.js";
import { drawSlides } from "./jobslides.js";
import { startPage } from "./layout.js";

const ROWS = 50;
const POLL_MS = 2000;
const FINAL = new Set(["succeeded", "partially_failed", "failed", "cancelled"]);
const jobId = decodeURIComponent(location.pathname.split("/")[3] ?? "");
const base = `/v1/jobs/${encodeURIComponent(jobId)}`;
const RELOAD_MS = 10000; // while a job runs, its results and summary reload at most this often
const thumbnails = new Map(); // item id -> Promise of a blob URL
const state = { job: null, items: [], sort: { key: "filename", dir: 1 }, page: 0, seen: "", loadedAt: 0 };

const SORT_KEYS = {
  filename: (item) => item.filename,
  patient_id: (item) => item.patient_id ?? "",
  status: (item) => item.status,
  label: (item) => item.label ?? "",
  probability: (item) => item.probability ?? -1,
  latency: (item) => item.latency_ms?.total ?? -1,
};

function drawJob(job) {
  const counts = job.counts;
  const done = counts.succeeded + counts.failed + counts.cancelled;
  fill(byId("job-id"), job.job_id);
  fill(byId("job-status"), badge(job.status));
  fill(byId("job-counts"), `${done} of ${counts.total} done: ${counts.succeeded} succeeded, ${counts.failed} failed, ${counts.queued + counts.running} pending`);
  const bar = byId("job-progress");
  bar.max = counts.total || 1;
  bar.value = counts.total ? done : 0;
  byId("cancel").classList.toggle("hidden", FINAL.has(job.status));
}

async function loadResults() {
  const items = [];
  let cursor = null;
  do {
    const page = await request(`${base}/results`, { params: { limit: 1000, cursor } });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  state.items = items;
  fillOptions("label-filter", items.map((item) => item.label));
  fillOptions("status-filter", items.map((item) => item.status));
  drawResults();
}

function fillOptions(id, values) {
  const select = byId(id);
  const current = select.value;
  const options = [...new Set(values.filter(Boolean))].sort();
  fill(select, el("option", { value: "", text: "any" }), options.map((value) => el("option", { value, text: value })));
  select.value = options.includes(current) ? current : "";
}

function visibleItems() {
  const label = byId("label-filter").value;
  const status = byId("status-filter").value;
  const name = byId("name-filter").value.toLowerCase();
  const key = SORT_KEYS[state.sort.key];
  return state.items
    .filter((item) => (!label || item.label === label) && (!status || item.status === status))
    .filter((item) => !name || item.filename.toLowerCase().includes(name))
    .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0) * state.sort.dir);
}

function thumbnail(item) {
  const image = el("img", { class: "thumb", alt: "", width: 48, height: 48 });
  if (item.status !== "succeeded" && item.status !== "failed") return image;
  if (!thumbnails.has(item.item_id)) {
    const url = blob(`${base}/items/${item.item_id}/thumbnail`, { size: 96 }).then((data) => URL.createObjectURL(data));
    thumbnails.set(item.item_id, url);
  }
  thumbnails
    .get(item.item_id)
    .then((url) => (image.src = url))
    .catch(() => image.classList.add("hidden")); // a refused upload has no image
  return image;
}

function resultRow(item) {
  const warnings = (item.warnings ?? []).map((text) => el("div", { class: "warning", text }));
  return el(
    "tr",
    { "data-item": item.item_id },
    el("td", {}, thumbnail(item)),
    el("td", { class: "name", text: item.filename }),
    el("td", { text: item.patient_id ?? "" }),
    el("td", {}, badge(item.status), item.error ? el("div", { class: "warning", text: item.error }) : null),
    el("td", { class: "label", text: item.label ?? "" }),
    el("td", { class: "num probability", text: format.probability(item.probability) }),
    el("td", {}, warnings),
    el("td", { class: "num", text: format.ms(item.latency_ms?.total) }),
  );
}

function drawResults() {
  const items = visibleItems();
  const pages = Math.max(1, Math.ceil(items.length / ROWS));
  state.page = Math.min(state.page, pages - 1);
  const shown = items.slice(state.page * ROWS, (state.page + 1) * ROWS);
  fill(byId("results").tBodies[0], shown.map(resultRow));
  fill(byId("page-line"), `page ${state.page + 1} of ${pages} (${items.length} of ${state.items.length} images)`);
  byId("previous").disabled = state.page === 0;
  byId("next").disabled = state.page >= pages - 1;
  for (const button of byId("results").querySelectorAll("th button")) {
    const sorted = button.dataset.key === state.sort.key;
    button.dataset.sort = sorted ? (state.sort.dir > 0 ? "asc" : "desc") : "";
  }
}

function summaryRow(group) {
  return el(
    "tr",
    { "data-status": group.status },
    el("td", { class: "name", text: group.patient_id ?? "(no patient ID)" }),
    el("td", { text: group.slide_id ?? "" }),
    el("td", { class: "call", text: group.call ?? "" }),
    el("td", {}, badge(group.status)),
    el("td", { class: "num", text: format.percent(group.coverage) }),
    el("td", { class: "num", text: group.n_images }),
    el("td", { class: "num", text: group.n_classified }),
    el("td", { class: "num", text: group.n_failed }),
    el("td", { class: "num", text: group.positive_tiles ?? "" }),
    el("td", { class: "num", text: group.n_flagged }),
  );
}

async function loadSummary() {
  const summary = await request(`${base}/summary`);
  fill(byId("rule"), summary.rule.description);
  const groups = summary.patients.concat(summary.slides);
  fill(byId("summary").tBodies[0], groups.length ? groups.map(summaryRow) : el("tr", {}, el("td", { colspan: 10, class: "muted", text: "No images yet." })));
}

async function poll() {
  try {
    const job = await request(base);
    state.job = job;
    drawJob(job);
    if (job.slides) drawSlides(await request(`${base}/slides`)); // each poll: their progress moves
    const seen = JSON.stringify(job.counts);
    const due = FINAL.has(job.status) || Date.now() - state.loadedAt >= RELOAD_MS;
    if (seen !== state.seen && due) {
      state.seen = seen; // results and summary only change when the counts do
      state.loadedAt = Date.now();
      await Promise.all([loadResults(), loadSummary()]);
    }
    if (!FINAL.has(job.status)) setTimeout(poll, POLL_MS);
  } catch (error) {
    showError(byId("message"), error);
  }
}

function guarded(action) {
  return async () => {
    try {
      await action();
    } catch (error) {
      showError(byId("message"), error);
    }
  };
}

function wire() {
  for (const button of byId("results").querySelectorAll("th button")) {
    button.addEventListener("click", () => {
      const key = button.dataset.key;
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
      drawResults();
    });
  }
  for (const id of ["label-filter", "status-filter", "name-filter"]) {
    byId(id).addEventListener("input", () => {
      state.page = 0;
      drawResults();
    });
  }
  byId("result-filters").addEventListener("submit", (event) => event.preventDefault());
  byId("previous").addEventListener("click", () => ((state.page -= 1), drawResults()));
  byId("next").addEventListener("click", () => ((state.page += 1), drawResults()));
  const name = `inferq-${jobId}`;
  byId("download-csv").addEventListener("click", guarded(() => download(`${base}/results`, { format: "csv" }, `${name}-results.csv`)));
  byId("download-json").addEventListener(
    "click",
    guarded(async () => {
      await loadResults();
      const body = JSON.stringify({ job: state.job, items: state.items }, null, 2);
      save(new Blob([body], { type: "application/json" }), `${name}-results.json`);
    }),
  );
  byId("download-summary-csv").addEventListener("click", guarded(() => download(`${base}/summary`, { format: "csv" }, `${name}-summary.csv`)));
  byId("download-summary-json").addEventListener("click", guarded(() => download(`${base}/summary`, {}, `${name}-summary.json`)));
  byId("cancel").addEventListener(
    "click",
    guarded(async () => {
      drawJob(await request(base, { method: "DELETE" }));
      state.seen = ""; // the running poll reloads the results and the summary now
      state.loadedAt = 0;
    }),
  );
}

if (startPage("jobs")) {
  wire();
  poll();
}
