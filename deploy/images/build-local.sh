#!/usr/bin/env bash
# Build and run inferq's container images without a Docker engine (buildah, chroot isolation).
#
#   deploy/images/build-local.sh build [--model DIR] [gateway|worker|worker-litert|all]
#   deploy/images/build-local.sh run IMAGE [-e NAME=VALUE]... [-v HOST:CONTAINER]... -- COMMAND...
#   deploy/images/build-local.sh bases    (only the tools and the two stand-in images)
#
# `build` makes (or reuses) two stand-ins for what a registry would give: a Debian bookworm
# base with Python 3.11 and this machine's CA bundle (SSL_CERT_FILE), and the
# ghcr.io/astral-sh/uv image the Dockerfiles copy uv from, holding the binary from the uv
# wheel. Both are cached in $INFERQ_IMAGE_CACHE (default ~/.cache/inferq-images), so a fresh
# clone on the same machine only builds the images. Then it builds Dockerfile.gateway and
# Dockerfile.worker unchanged into inferq-gateway:local and inferq-worker:local (`all`, the
# default). `worker-litert` builds Dockerfile.worker with WORKER_EXTRA=litert and
# INFERQ_RUNTIME=litert into inferq-worker-litert:local: LiteRT without TensorFlow, so the
# model must carry a .tflite file. --model bakes a model directory other than models/default into the worker image.
#
# `run` runs a command in an image as the images' user (10001), on the host's network, so a
# process inside reaches the host's PostgreSQL and Redis at 127.0.0.1. (`podman run` needs
# rlimits that these machines refuse, so containers run under buildah's chroot isolation.)
#
# Every step prints its time on stderr: "[images] <step>: <seconds> s".
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${INFERQ_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/inferq-images}"
BASE_IMAGE="${INFERQ_BASE_IMAGE:-localhost/inferq-base:bookworm-py311}"
MIRROR="${INFERQ_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
HOST_CA="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
IMAGE_USER=10001:10001

log() { echo "[images] $*" >&2; }

timed() {  # timed STEP COMMAND...: run a command and report how long it took
  local step=$1 started=$SECONDS
  shift
  "$@"
  log "$step: $((SECONDS - started)) s"
}

have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

install_tools() {
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  command -v podman >/dev/null || missing+=(podman)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

make_rootfs() {  # debootstrap a bookworm root with Python 3.11 into a cached tarball
  local root="$CACHE/rootfs"
  rm -rf "$root"
  debootstrap --variant=minbase --include=python3.11,python3,python-is-python3,ca-certificates \
    bookworm "$root" "$MIRROR" >"$CACHE/debootstrap.log"
  # Package downloads inside builds go through this machine's TLS chain.
  cp "$HOST_CA" "$root/etc/ssl/certs/host-ca-bundle.pem"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -cf "$CACHE/rootfs.tar.partial" .
  mv "$CACHE/rootfs.tar.partial" "$CACHE/rootfs.tar"
  rm -rf "$root"
}

make_base() {  # the stand-in for python:3.11-slim-bookworm
  have_image "$BASE_IMAGE" && return
  [ -f "$CACHE/rootfs.tar" ] || timed "debootstrap bookworm + Python 3.11" make_rootfs
  podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/host-ca-bundle.pem' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$CACHE/rootfs.tar" "$BASE_IMAGE" >/dev/null
}

uv_image() {  # the uv image the Dockerfiles name, e.g. ghcr.io/astral-sh/uv:0.13.9
  local image
  image=$(sed -n 's/^FROM \(ghcr\.io\/astral-sh\/uv:[^ ]*\).*/\1/p' "$ROOT/Dockerfile.gateway" | head -1)
  [ -n "$image" ] || { log "no uv image in Dockerfile.gateway"; exit 1; }
  echo "$image"
}

make_uv() {
  local image version wheel_dir container
  image=$(uv_image)
  have_image "$image" && return
  version=${image##*:}
  wheel_dir="$CACHE/uv-$version"
  if [ ! -x "$wheel_dir/uv" ]; then
    mkdir -p "$wheel_dir"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$wheel_dir" "uv==$version"
    python3 -m zipfile -e "$wheel_dir"/uv-*.whl "$wheel_dir/wheel"
    install -m 0755 "$wheel_dir/wheel/uv-$version.data/scripts/uv" "$wheel_dir/uv"
    rm -rf "$wheel_dir/wheel" "$wheel_dir"/*.whl
  fi
  container=$(buildah from scratch)
  buildah copy --quiet "$container" "$wheel_dir/uv" /uv >/dev/null
  buildah commit --quiet --rm "$container" "$image" >/dev/null
}

stage_context() {  # a build context holding the working tree and MODEL at models/default
  # Always the same folder: buildah's layer cache keys bind mounts on the context's path.
  local model=$1 context=$CACHE/context
  rm -rf "$context"
  mkdir -p "$context/models"
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"' | tar -cf - -T -) | tar -C "$context" -xf -
  cp -r "$model" "$context/models/default"
  echo "$context"
}

build_image() {  # build_image IMAGE DOCKERFILE CONTEXT [BUILD-ARG]...
  local image=$1 dockerfile=$2 context=$3 previous arg args=()
  shift 3
  for arg in "$@"; do args+=(--build-arg "$arg"); done
  previous=$(image_id "$image")
  buildah bud --isolation chroot --network host --pull-never --layers --force-rm --format docker \
    --quiet --build-arg "PYTHON_IMAGE=$BASE_IMAGE" "${args[@]}" -f "$context/$dockerfile" \
    -t "$image" "$context" >/dev/null
  # The image this one replaces goes, with the cached layers only it used (an older model,
  # older sources); the layers the new image shares stay for the next build.
  if [ -n "$previous" ] && [ "$previous" != "$(image_id "$image")" ]; then
    buildah rmi "$previous" >/dev/null 2>&1 || true
  fi
  log "$image size: $(image_size "$image") MB"
}

image_id() { buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true; }

image_size() {
  podman image inspect --format '{{.Size}}' "$1" | awk '{print int($1 / 1e6)}'
}

build() {
  local model="" which=all context
  while [ $# -gt 0 ]; do
    case $1 in
      --model) model=$(cd "$2" && pwd); shift 2 ;;
      gateway | worker | worker-litert | all) which=$1; shift ;;
      *) log "unknown build argument: $1"; exit 2 ;;
    esac
  done
  timed "tools" install_tools
  mkdir -p "$CACHE"
  timed "base image $BASE_IMAGE" make_base
  timed "uv image $(uv_image)" make_uv
  context=$ROOT
  [ -z "$model" ] || context=$(stage_context "$model")
  case $which in
    gateway | all)
      timed "build inferq-gateway:local" build_image inferq-gateway:local Dockerfile.gateway "$context" ;;&
    worker | all)
      timed "build inferq-worker:local" build_image inferq-worker:local Dockerfile.worker "$context" ;;
    worker-litert)
      timed "build inferq-worker-litert:local" build_image inferq-worker-litert:local \
        Dockerfile.worker "$context" WORKER_EXTRA=litert INFERQ_RUNTIME=litert ;;
  esac
  # buildah 1.28 leaves a container behind for a stage used only by COPY --from.
  buildah containers --quiet --filter "ancestor=$(uv_image)" | xargs -r buildah rm >/dev/null
}

descendants() { local pid; for pid in $(pgrep -P "$1"); do echo "$pid"; descendants "$pid"; done; }

forward() {  # forward SIGNAL to the command itself: buildah run would SIGKILL it instead
  local pid
  for pid in $(descendants "$child"); do
    case $(ps -o args= -p "$pid") in buildah-chroot-exec*) pkill "-$1" -P "$pid" || true ;; esac
  done
}

run() {  # run IMAGE [-e NAME=VALUE]... [-v HOST:CONTAINER]... -- COMMAND...
  local image=$1 options=() container code=0
  shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case $1 in
      -e) options+=(--env "$2"); shift 2 ;;
      -v) options+=(--volume "$2"); shift 2 ;;
      *) log "unknown run argument: $1"; exit 2 ;;
    esac
  done
  shift
  container=$(buildah from --pull-never --quiet "$image")
  trap 'buildah rm "$container" >/dev/null 2>&1 || true' EXIT
  trap 'forward TERM' TERM
  trap 'forward INT' INT
  buildah run --isolation chroot --network host --user "$IMAGE_USER" "${options[@]}" \
    "$container" -- "$@" &
  child=$!
  wait "$child" || code=$?
  while kill -0 "$child" 2>/dev/null; do  # a trapped signal ended the wait early
    code=0
    wait "$child" || code=$?
  done
  exit "$code"
}

case ${1:-} in
  build) shift; build "$@" ;;
  run) shift; run "$@" ;;
  bases) install_tools; mkdir -p "$CACHE"; timed "base image" make_base; timed "uv image" make_uv ;;
  *) sed -n '2,7p' "$0" >&2; exit 2 ;;
esac
