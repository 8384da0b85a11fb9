#!/usr/bin/env bash
# The deploy gate, the one command CD runs before traffic moves to a candidate:
#
#     deploy/gate.sh API_URL MODEL_CARD REPORT
#
# Waits for API_URL/healthz, generates a labelled set (fixed seed), sends it through the
# API with `inferq evaluate` and judges the answers by the rule in evaluation/gate.py
# against MODEL_CARD, the model.json the worker image bakes in. It fails closed: no card,
# no recorded test_accuracy or test_auc, an image not classified, a patient without a call,
# an answer from another model, an accuracy or AUC drop past 0.05 (--tolerance), an API
# that does not answer or a job that does not finish all exit non-zero with the reason.
# Beside REPORT (JSON) it writes the readable report (same name, .md).
#
# Needs `inferq` on PATH and INFERQ_API_KEY (a key of the tenant the gate submits as).
# GATE_TILES (default 256), GATE_WAIT_SECONDS (60) and GATE_TIMEOUT_SECONDS (600) bound it.
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "usage: $0 API_URL MODEL_CARD REPORT" >&2
  exit 2
fi
api=${1%/}
card=$2
report=$3
tiles=${GATE_TILES:-256}
wait_seconds=${GATE_WAIT_SECONDS:-60}
job_seconds=${GATE_TIMEOUT_SECONDS:-600}

fail() {
  echo "gate: FAIL: $*" >&2
  exit 1
}

[ -n "${INFERQ_API_KEY:-}" ] || fail "INFERQ_API_KEY is empty: the gate submits with a tenant's key"
[ -f "$card" ] || fail "no model card at $card"

deadline=$((SECONDS + wait_seconds))
until curl -fsS --max-time 5 "$api/healthz" >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] || fail "$api/healthz did not answer within $wait_seconds s"
  sleep 1
done

data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
inferq data generate --out "$data" --n "$tiles" --seed 7 >/dev/null
# evaluate bounds the job's wait itself; the outer bound also covers uploads that hang.
status=0
timeout "$((job_seconds + 120))" inferq evaluate --api "$api" --data "$data" \
  --model-card "$card" --tolerance 0.05 --timeout "$job_seconds" --report "$report" || status=$?
if [ "$status" -eq 124 ]; then
  fail "inferq evaluate did not finish within $((job_seconds + 120)) s"
elif [ "$status" -ne 0 ]; then
  fail "inferq evaluate exited $status (reasons above; report: $report)"
fi
echo "gate: PASS ($report)"
