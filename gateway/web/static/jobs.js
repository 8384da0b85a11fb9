// Jobs: the tenant's jobs, newest first, filtered by status and date, with live progress.
import { request } from "./api.js";
import { badge, byId, el, fill, format, showError } from "./dom.js";
import { startPage } from "./layout.js";

const PAGE = 25;
const REFRESH_MS = 3000;
const ACTIVE = new Set(["open", "queued", "running"]);
let shown = []; // jobs on screen, in order
let cursor = null;
let timer = null;

function filters() {
  const from = byId("from").value;
  const to = byId("to").value;
  const dayAfter = to ? new Date(Date.parse(`${to}T00:00:00`) + 86400000).toISOString() : null;
  return {
    status: byId("status").value,
    created_after: from ? new Date(`${from}T00:00:00`).toISOString() : null,
    created_before: dayAfter, // the whole "to" day, in this browser's time zone
  };
}

function progressOf(job) {
  const done = job.counts.succeeded + job.counts.failed + job.counts.cancelled;
  return el("progress", { class: "bar", max: job.counts.total || 1, value: job.counts.total ? done : 0 });
}

function cancelButton(job) {
  if (!ACTIVE.has(job.status)) return null;
  return el("button", {
    type: "button",
    class: "plain",
    text: "Cancel",
    onclick: async () => {
      try {
        replaceJob(await request(`/v1/jobs/${job.job_id}`, { method: "DELETE" }));
      } catch (error) {
        showError(byId("message"), error);
      }
    },
  });
}

function row(job) {
  return el(
    "tr",
    { "data-job": job.job_id },
    el("td", {}, el("a", { href: `/web/jobs/${job.job_id}`, text: job.job_id })),
    el("td", {}, badge(job.status)),
    el("td", {}, progressOf(job)),
    el("td", { class: "num", text: job.counts.total }),
    el("td", { class: "num", text: job.counts.succeeded }),
    el("td", { class: "num", text: job.counts.failed }),
    el("td", { text: format.time(job.created_at) }),
    el("td", {}, cancelButton(job)),
  );
}

function draw() {
  const body = byId("jobs").tBodies[0];
  fill(body, shown.length ? shown.map(row) : el("tr", {}, el("td", { colspan: 8, class: "muted", text: "No jobs." })));
  byId("more").classList.toggle("hidden", cursor === null);
}

function replaceJob(job) {
  shown = shown.map((each) => (each.job_id === job.job_id ? job : each));
  draw();
}

async function load(more = false) {
  try {
    const page = await request("/v1/jobs", { params: { ...filters(), limit: PAGE, cursor: more ? cursor : null } });
    shown = more ? shown.concat(page.jobs) : page.jobs;
    cursor = page.next_cursor;
    fill(byId("message"));
    draw();
  } catch (error) {
    showError(byId("message"), error);
  }
  schedule();
}

/** Poll the jobs still running on screen (one call for up to 100 of them). */
async function refresh() {
  const active = shown.filter((job) => ACTIVE.has(job.status)).map((job) => job.job_id).slice(0, 100);
  if (active.length) {
    try {
      const page = await request("/v1/jobs", { params: { ids: active.join(",") } });
      page.jobs.forEach(replaceJob);
    } catch (error) {
      showError(byId("message"), error);
    }
  }
  schedule();
}

function schedule() {
  clearTimeout(timer);
  if (shown.some((job) => ACTIVE.has(job.status))) timer = setTimeout(refresh, REFRESH_MS);
}

if (startPage("jobs")) {
  byId("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  byId("more").addEventListener("click", () => load(true));
  load();
}
