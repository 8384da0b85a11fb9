// Submit: files, a folder (picker or drop) or archives into one job. A big folder goes in
// several requests into one open job (POST /v1/jobs close=false, .../items, .../close).
import { account, ApiError, request, upload } from "./api.js";
import { byId, el, fill, format, showError } from "./dom.js";
import { startPage } from "./layout.js";
import { isSlide, sendSlides } from "./slides.js";

const HEADROOM = 256 * 1024; // multipart headers and fields besides the files, at most
const PART_OVERHEAD = 512;
const RETRIES = 3;
const chosen = new Map(); // relative path -> File
let manifestFromFolder = null;

function addFile(file, path) {
  const name = (path || file.name).replace(/^\/+/, "");
  if (/(^|\/)manifest\.csv$/i.test(name) && name.split("/").length <= 2 && !byId("manifest").files.length) {
    manifestFromFolder = file; // a scanner folder's own manifest
    return;
  }
  chosen.set(name, file);
}

function readEntries(reader) {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(entry) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    addFile(file, entry.fullPath);
    return;
  }
  const reader = entry.createReader();
  for (let batch = await readEntries(reader); batch.length; batch = await readEntries(reader)) {
    for (const child of batch) await walk(child);
  }
}

/** The chosen files split into images (multipart requests) and slides (chunked uploads). */
function split() {
  const limits = account();
  const entries = [...chosen];
  return {
    images: entries.filter(([, file]) => !isSlide(file, limits)),
    slides: entries.filter(([, file]) => isSlide(file, limits)).map(([, file]) => file),
  };
}

function describeChoice() {
  const files = [...chosen.values()];
  const bytes = files.reduce((sum, file) => sum + file.size, 0);
  const parts = [`${files.length} files, ${format.bytes(bytes)}`];
  const slides = split().slides.length;
  if (slides) parts.push(`${slides} whole-slide file${slides > 1 ? "s" : ""} sent by chunked upload`);
  if (manifestFromFolder) parts.push("the folder's manifest.csv is sent as the manifest");
  fill(byId("chosen"), parts.join("; "));
  byId("send").disabled = files.length === 0;
}

/** Split the files into requests under the gateway's body and part limits. */
export function plan(entries, limits, manifestBytes) {
  const budget = limits.max_upload_bytes - Math.min(HEADROOM, limits.max_upload_bytes / 8);
  const requests = [];
  const tooLarge = [];
  let current = { files: [], bytes: manifestBytes };
  for (const [path, file] of entries) {
    const cost = file.size + PART_OVERHEAD + path.length * 3;
    if (cost + manifestBytes > budget) {
      tooLarge.push(path);
      continue;
    }
    if (current.files.length && (current.bytes + cost > budget || current.files.length >= limits.max_files_per_request)) {
      requests.push(current);
      current = { files: [], bytes: 0 };
    }
    current.files.push([path, file]);
    current.bytes += cost;
  }
  if (current.files.length) requests.push(current);
  return { requests, tooLarge };
}

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

async function send(path, form, onProgress) {
  const headers = { "Idempotency-Key": crypto.randomUUID() }; // its retries add nothing twice
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await upload(path, form, { onProgress, headers });
    } catch (error) {
      const retry = [0, 429, 502, 503, 504].includes(error.status) && attempt < RETRIES;
      if (!retry) throw error;
      await sleep(error.status === 429 ? 5 : attempt);
    }
  }
}

function formOf(files, fields = {}) {
  const form = new FormData();
  for (const [path, file] of files) form.append("files", file, path);
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  return form;
}

function merge(total, answer) {
  total.n_items += answer.n_items ?? 0;
  total.rejected.push(...(answer.rejected ?? []));
  total.duplicates.push(...(answer.duplicates ?? []));
  total.skipped.push(...(answer.skipped ?? []));
  if (answer.manifest) total.manifest = answer.manifest;
}

async function sendAll(images) {
  const manifest = byId("manifest").files[0] ?? manifestFromFolder;
  const { requests, tooLarge } = plan(images, account(), manifest?.size ?? 0);
  const totalBytes = requests.reduce((sum, each) => sum + each.bytes, 0) || 1;
  const total = { n_items: 0, rejected: [], duplicates: [], skipped: [], manifest: null, tooLarge };
  let sent = 0;
  const progress = (loaded) => {
    byId("progress").value = Math.min(1, (sent + loaded) / totalBytes);
    fill(byId("progress-text"), `${format.bytes(sent + loaded)} of ${format.bytes(totalBytes)} sent`);
  };
  if (!requests.length) throw new ApiError(0, "no file is small enough to send");
  const single = requests.length === 1;
  const first = formOf(requests[0].files, { close: String(single) });
  if (manifest) first.append("manifest", manifest, "manifest.csv");
  const opened = await send("/v1/jobs", first, progress);
  merge(total, opened);
  sent += requests[0].bytes;
  const job = opened.job_id;
  for (const [index, each] of requests.slice(1).entries()) {
    fill(byId("progress-text"), `request ${index + 2} of ${requests.length}`);
    merge(total, await send(`/v1/jobs/${job}/items`, formOf(each.files), progress));
    sent += each.bytes;
  }
  if (!single) merge(total, await request(`/v1/jobs/${job}/close`, { method: "POST" }));
  progress(0);
  return { job, total, requests: requests.length };
}

function listOf(title, entries) {
  if (!entries.length) return null;
  return el("div", {}, el("h2", { text: `${title} (${entries.length})` }), el("ul", { class: "list" }, entries.map((text) => el("li", { text }))));
}

function showOutcome({ job, total, requests }) {
  byId("outcome").classList.remove("hidden");
  fill(
    byId("job-line"),
    `${total.n_items} images queued in ${requests} request${requests > 1 ? "s" : ""} as job `,
    el("a", { href: `/web/jobs/${job}`, id: "job-link", text: job }),
  );
  const manifest = total.manifest;
  fill(
    byId("lists"),
    listOf("Rejected: not images", total.rejected.map((r) => `${r.filename}: ${r.reason}`)),
    listOf("Duplicates: already in the job", total.duplicates.map((d) => d.filename)),
    listOf("Skipped: clutter and hidden files", total.skipped),
    listOf("Too large to send", total.tooLarge),
    manifest && listOf("Manifest rows matching no file", manifest.unmatched),
    manifest && listOf("Manifest lines not used", (manifest.errors ?? []).map((e) => `line ${e.line}: ${e.reason}`)),
  );
}

function slideProgress(step) {
  const share = step.done / (step.total || 1); // the checksum is a tenth of a file's bar, its chunks the rest
  byId("progress").value = (step.index + (step.phase === "hashing" ? 0.1 * share : 0.1 + 0.9 * share)) / step.count;
  const what = step.phase === "hashing" ? `checksum ${format.bytes(step.done)} of ${format.bytes(step.total)}` : `chunk ${step.done} of ${step.total}`;
  const resumed = step.resumed ? `, ${step.resumed} sent before` : "";
  fill(byId("progress-text"), `slide ${step.index + 1} of ${step.count} (${step.file}): ${what}${resumed}`);
}

/** Send the slides as one job; alone, go to its page, else show its link by the images'. */
async function sendChosen() {
  const { images, slides } = split();
  const sent = images.length ? await sendAll(images) : null;
  if (sent) showOutcome(sent);
  if (!slides.length) return;
  const job = (await sendSlides(slides, slideProgress)).job_id;
  if (!sent) return location.assign(`/web/jobs/${encodeURIComponent(job)}`);
  byId("job-line").append(" and the slides as job ", el("a", { href: `/web/jobs/${job}`, id: "slide-job-link", text: job }));
}

function clear() {
  chosen.clear();
  manifestFromFolder = null;
  for (const id of ["files", "folder", "manifest"]) byId(id).value = "";
  describeChoice();
}

function wire() {
  const drop = byId("drop");
  for (const id of ["files", "folder"]) {
    byId(id).addEventListener("change", (event) => {
      for (const file of event.target.files) addFile(file, file.webkitRelativePath || file.name);
      describeChoice();
    });
  }
  byId("manifest").addEventListener("change", () => {
    manifestFromFolder = null;
    describeChoice();
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const items = [...event.dataTransfer.items].filter((item) => item.kind === "file");
    const entries = items.map((item) => [item.webkitGetAsEntry(), item.getAsFile()]); // before the event ends
    for (const [entry, file] of entries) await (entry ? walk(entry) : addFile(file)); // no entry: a plain file
    describeChoice();
  });
  byId("clear").addEventListener("click", clear);
  byId("send").addEventListener("click", async () => {
    byId("send").disabled = true;
    byId("progress").classList.remove("hidden");
    fill(byId("message"));
    try {
      await sendChosen();
      clear();
    } catch (error) {
      showError(byId("message"), error);
    } finally {
      describeChoice();
    }
  });
}

if (startPage("submit")) wire();
