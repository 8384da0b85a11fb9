# inferq: the first two targets are all a newcomer needs (`make demo`, `make test`).
.DEFAULT_GOAL := help
SHELL := /bin/bash

UV_BOOTSTRAP := $(CURDIR)/.tools/bin/uv
UV := $(or $(shell command -v uv 2>/dev/null),$(UV_BOOTSTRAP))
export UV_PYTHON_DOWNLOADS := never
VENV := .venv/bin

.PHONY: help demo test install bytecode lint chromium bench soak clean

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

demo: install bytecode  ## Train the quick model if needed, run gateway + worker on the embedded defaults, submit a folder.
	$(VENV)/inferq demo

test: install bytecode lint chromium  ## Lint, type-check, check import contracts and run every test.
	$(VENV)/pytest

# The browser tests (tests/browser) drive a system Chromium through Playwright; Playwright's
# own browser download is never used. Installed here with apt where it is missing and this
# user may (root, or passwordless sudo); elsewhere they skip, except under
# INFERQ_REQUIRE_SERVICES=1 (CI), where they fail.
CHROMIUM_PATHS := /usr/bin/chromium /usr/bin/chromium-browser
chromium:  ## Install Debian's Chromium for the browser tests where it is missing (apt).
	@for path in $$INFERQ_CHROMIUM $(CHROMIUM_PATHS); do [ -x "$$path" ] && exit 0; done; \
	if [ "$$(id -u)" = 0 ]; then as_root=; \
	elif sudo -n true 2>/dev/null; then as_root=sudo; \
	else echo "Chromium is missing and apt needs root: the browser tests will skip"; exit 0; fi; \
	if ! command -v apt-get >/dev/null; then echo "Chromium is missing and there is no apt"; exit 0; fi; \
	$$as_root apt-get update -qq && \
	$$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
	  || echo "Chromium could not be installed: the browser tests will skip (fail in CI)"

$(UV_BOOTSTRAP):
	python3 -m venv .tools
	.tools/bin/pip install --quiet 'uv>=0.9,<1'

.venv/.installed: pyproject.toml uv.lock | $(if $(shell command -v uv 2>/dev/null),,$(UV_BOOTSTRAP))
	# Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every
	# process would otherwise compile all it imports, seconds for each worker and gateway start.
	$(UV) sync --frozen --all-extras --compile-bytecode
	touch $@

install: .venv/.installed  ## Create .venv with every extra and the dev tools (uv, locked).

# The project's own modules compiled too, as the images do: a gateway then starts in about
# 0.3 s less. A module edited since is compiled again (in memory where bytecode is not written).
bytecode: install
	$(VENV)/python -m compileall -q -j 0 core db gateway worker cli client training evaluation

lint: install  ## Ruff, mypy, the import-linter contracts, Dockerfiles, compose file and workflows.
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy
	$(VENV)/lint-imports
	$(VENV)/hadolint --failure-threshold warning Dockerfile.gateway Dockerfile.worker
	$(VENV)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(VENV)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/zizmor --offline --quiet .github/workflows

bench: install bytecode  ## Raw vs end-to-end throughput (tiles and a ~10,000-tile slide) for the small CNN and ResNet50V2.
	$(VENV)/inferq bench

soak: install bytecode  ## Worker RSS over 1,000 batches after warm-up (must grow < 5%); not part of `make test`.
	$(VENV)/pytest -m soak -q -s

clean:  ## Remove the local data folder (database, blobs, queue) and caches.
	rm -rf .inferq .pytest_cache .mypy_cache .ruff_cache
