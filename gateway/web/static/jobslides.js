// A job's whole-slide images: each slide's progress and call, and for a finished one its
// heatmap (fetched with the key into a blob: URL) and its GeoJSON and tile CSV downloads.
import { blob, download } from "./api.js";
import { badge, byId, el, fill, format, showError } from "./dom.js";

const heatmaps = new Map(); // slide id -> Promise of a blob URL

const area = (value) => (value === null || value === undefined ? "" : `${Number(value).toFixed(2)} mm²`);

function slideRow(slide) {
  const progress = el("progress", { max: 1, value: slide.progress });
  return el(
    "tr",
    { "data-slide": slide.id, "data-status": slide.status },
    el("td", { class: "name", text: slide.filename }),
    el("td", { text: slide.patient_id ?? "" }),
    el("td", {}, badge(slide.status), slide.error ? el("div", { class: "warning", text: slide.error }) : null),
    el("td", {}, progress, ` ${format.percent(slide.progress)}`),
    el("td", { class: "num", text: slide.n_tiles ?? "" }),
    el("td", { class: "call", text: slide.call ?? "" }),
    el("td", { class: "num", text: area(slide.positive_area_mm2) }),
    el("td", { class: "num", text: area(slide.tissue_area_mm2) }),
  );
}

function heatmap(slide) {
  const image = el("img", { class: "heatmap", alt: `Heatmap of ${slide.filename}` });
  if (!heatmaps.has(slide.id)) heatmaps.set(slide.id, blob(slide.links.heatmap).then((data) => URL.createObjectURL(data)));
  heatmaps
    .get(slide.id)
    .then((url) => (image.src = url))
    .catch((error) => image.replaceWith(el("p", { class: "error", text: error.message })));
  return image;
}

function outputs(slide, message) {
  const stem = slide.filename.replace(/\.[^.]*$/, "") || slide.id;
  const get = (path, name) => () => download(path, {}, name).catch((error) => showError(message, error));
  return el(
    "figure",
    { class: "slide-output", "data-slide": slide.id },
    heatmap(slide),
    el(
      "figcaption",
      { class: "row" },
      el("span", { class: "name", text: slide.filename }),
      el("button", { type: "button", class: "plain geojson", text: "GeoJSON", onclick: get(slide.links.geojson, `${stem}.geojson`) }),
      el("button", { type: "button", class: "plain tiles-csv", text: "Tiles CSV", onclick: get(slide.links.tiles_csv, `${stem}-tiles.csv`) }),
    ),
  );
}

/** Draw the slides of GET /v1/jobs/{id}/slides; heatmaps and downloads once a slide succeeded. */
export function drawSlides(list) {
  byId("slides-section").classList.remove("hidden");
  fill(byId("slides").tBodies[0], list.slides.map(slideRow));
  const done = list.slides.filter((slide) => slide.status === "succeeded");
  const shown = [...byId("slide-outputs").children].map((node) => node.dataset.slide);
  if (shown.join() !== done.map((slide) => slide.id).join()) {
    fill(byId("slide-outputs"), done.map((slide) => outputs(slide, byId("message"))));
  }
}
