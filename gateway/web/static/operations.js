// Operations: the tenant's live figures, the last hour as charts, the served model's card.
import { request } from "./api.js";
import { byId, el, fill, format, showError } from "./dom.js";
import { drawChart } from "./chart.js";
import { startPage } from "./layout.js";

const REFRESH_MS = 10000;

function figure(name, value) {
  return el("div", {}, el("dt", { text: name }), el("dd", { text: value }));
}

function drawFigures(metrics) {
  const latency = metrics.latency_ms;
  fill(
    byId("figures"),
    figure("Jobs", metrics.jobs_total),
    figure("Images", metrics.items_total),
    figure("Waiting for a worker", metrics.queue_depth),
    figure(`Images a second (last ${metrics.throughput_window_seconds} s)`, metrics.throughput_per_second),
    Object.entries(metrics.items_by_status).map(([status, count]) => figure(`Images ${status}`, count)),
    ["total", "queue", "inference"].flatMap((name) => [
      figure(`${name} latency p50`, format.ms(latency[name]?.p50)),
      figure(`${name} latency p95`, format.ms(latency[name]?.p95)),
    ]),
  );
}

function drawHistory(history) {
  const buckets = history.buckets.map((bucket) => ({ ...bucket, per_minute: (bucket.results * 60) / history.step_seconds }));
  fill(byId("throughput-chart"), drawChart(buckets, { bars: [{ key: "per_minute", className: "bar" }], title: "Results a minute" }));
  fill(
    byId("latency-chart"),
    drawChart(buckets, {
      lines: [
        { key: "total_ms_mean", className: "mean" },
        { key: "total_ms_p95", className: "p95" },
      ],
      unit: " ms",
      title: "Upload-to-result latency",
    }),
  );
}

/** Flatten the card's metrics ({fp32: {test_accuracy: 0.9}} -> "fp32 test_accuracy"). */
function flatten(values, prefix = "") {
  return Object.entries(values ?? {}).flatMap(([name, value]) =>
    value !== null && typeof value === "object" ? flatten(value, `${prefix}${name} `) : [[`${prefix}${name}`, value]],
  );
}

function card(model) {
  const metrics = flatten(model.metrics).map(([name, value]) => figure(name, typeof value === "number" ? +value.toPrecision(4) : String(value)));
  return el(
    "div",
    {},
    el("p", {}, el("strong", { text: `${model.name} ${model.version}` }), ` · ${model.runtime} · ${model.live_workers} live worker(s)`),
    el("p", { text: `Classes: ${model.class_names.join(", ")}; positive class: ${model.positive_class ?? "none"} at threshold ${model.threshold}` }),
    model.registered_name ? el("p", { class: "muted", text: `Registry: ${model.registered_name} v${model.registered_version ?? "?"}` }) : null,
    metrics.length ? el("dl", { class: "figures" }, metrics) : el("p", { class: "muted", text: "No metrics recorded on the card." }),
  );
}

async function loadModel() {
  try {
    fill(byId("model"), card(await request("/v1/model")));
  } catch (error) {
    fill(byId("model"), el("p", { class: "muted", text: error.status === 404 ? "No worker serves a model now." : error.message }));
  }
}

async function refresh() {
  try {
    const [metrics, history] = await Promise.all([request("/v1/metrics"), request("/v1/metrics/history", { params: { minutes: 60, step_seconds: 60 } })]);
    drawFigures(metrics);
    drawHistory(history);
    fill(byId("updated"), `(updated ${new Date().toLocaleTimeString()})`);
    fill(byId("message"));
  } catch (error) {
    showError(byId("message"), error);
  }
  await loadModel();
  setTimeout(refresh, REFRESH_MS);
}

if (startPage("operations")) refresh();
