// Whole-slide files go by resumable chunked upload (POST /v1/uploads, PUT each chunk, complete),
// then into one slide job (POST /v1/jobs/slides). An upload's ID is kept in sessionStorage under
// the file's name, size and date, so sending the same file again in this tab sends only the
// chunks the gateway is missing.
import { ApiError, request, send } from "./api.js";
import { sha256File } from "./sha256.js";

const SLIDE_ONLY = /\.(svs|ndpi|mrxs|scn|bif)$/i; // scanner formats: always slides
const TIFF = /\.tiff?$/i; // an image, or a pyramidal slide when over the image size limit
const ATTEMPTS = 6;
const RETRY = new Set([0, 429, 500, 502, 503, 504]); // 0: the gateway was not reached

/** Whether a file goes as a slide: a scanner format, or a TIFF over max_image_bytes. */
export function isSlide(file, limits) {
  return SLIDE_ONLY.test(file.name) || (TIFF.test(file.name) && file.size > limits.max_image_bytes);
}

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

/** Call the API, retrying lost connections and 429/5xx answers with doubling waits. */
async function patiently(call) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (caught) {
      const error = caught instanceof ApiError ? caught : new ApiError(0, "the gateway could not be reached");
      if (!RETRY.has(error.status) || attempt >= ATTEMPTS) throw error;
      await sleep(Math.min(30, 2 ** (attempt - 1)));
    }
  }
}

function storageKey(file) {
  return `inferq.upload.${JSON.stringify([file.name, file.size, file.lastModified])}`;
}

/** The upload this tab started for the file, if the gateway still has it. */
async function resumed(file) {
  const id = sessionStorage.getItem(storageKey(file));
  if (!id) return null;
  try {
    return await patiently(() => request(`/v1/uploads/${encodeURIComponent(id)}`));
  } catch (error) {
    if (error.status !== 404) throw error;
    sessionStorage.removeItem(storageKey(file)); // expired or deleted: start again
    return null;
  }
}

async function started(file, onProgress) {
  const sha256 = await sha256File(file, (done) => onProgress({ phase: "hashing", done, total: file.size }));
  const upload = await patiently(() => send("/v1/uploads", { filename: file.name, size: file.size, sha256 }));
  sessionStorage.setItem(storageKey(file), upload.id);
  return upload;
}

function putChunk(upload, file, index) {
  const body = file.slice(index * upload.chunk_size, (index + 1) * upload.chunk_size);
  const path = `/v1/uploads/${upload.id}/chunks/${index}`;
  const headers = { "Content-Type": "application/octet-stream" };
  return patiently(() => request(path, { method: "PUT", body, headers }));
}

/** Send one file in chunks (only those missing) and complete it; answer the upload ID. */
export async function uploadSlide(file, onProgress) {
  const upload = (await resumed(file)) ?? (await started(file, onProgress));
  if (upload.status !== "complete") {
    const received = new Set(upload.received);
    const missing = [...Array(upload.chunk_count).keys()].filter((index) => !received.has(index));
    let done = received.size;
    onProgress({ phase: "sending", done, total: upload.chunk_count, resumed: received.size });
    for (const index of missing) {
      await putChunk(upload, file, index);
      done += 1;
      onProgress({ phase: "sending", done, total: upload.chunk_count, resumed: received.size });
    }
    await patiently(() => request(`/v1/uploads/${upload.id}/complete`, { method: "POST" }));
  }
  return upload.id;
}

/** Upload every slide file, then start one job of them; answer the job's JSON. */
export async function sendSlides(files, onProgress) {
  const ids = [];
  for (const [index, file] of files.entries()) {
    ids.push(await uploadSlide(file, (step) => onProgress({ ...step, file: file.name, index, count: files.length })));
  }
  const job = await send("/v1/jobs/slides", { slides: ids.map((upload_id) => ({ upload_id })) }); // not retried: no job twice
  for (const file of files) sessionStorage.removeItem(storageKey(file)); // now the job holds them
  return job;
}
