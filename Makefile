# lamdis — developer commands. `make demo` and `make test` work on a fresh machine that has
# Python 3.11+ and this checkout: they install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
RUN := $(UV) run --no-sync

.PHONY: install demo test test-fast lint typecheck bench services clean dist image image-test

# Bootstrap uv when it is missing. Debian/Ubuntu system Pythons refuse `pip install --user`
# (PEP 668), so fall back to --break-system-packages (a user-site install touches no system
# files), then to uv's own installer.
$(UV):
	@echo "uv not found; installing it into ~/.local/bin"
	$(PYTHON) -m pip install --user --quiet uv \
	  || $(PYTHON) -m pip install --user --quiet --break-system-packages uv \
	  || curl -LsSf https://astral.sh/uv/install.sh | sh

install: $(UV)
	$(UV) sync --all-packages --group dev --group lint --quiet --compile-bytecode

demo: install
	$(RUN) python -m lamdis_http.demo_run

services:
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-ferretdb.sh
	bash scripts/ensure-go-tools.sh
	bash scripts/ensure-chromium.sh

test: install services
	$(RUN) pytest -q -p no:cacheprovider

test-fast: install
	$(RUN) pytest -q -m "not postgres and not mongo and not e2e"

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: install
	$(RUN) mypy packages/*/src

bench: install
	$(RUN) python bench/run.py

# Every package's wheel and sdist in dist/, metadata checked by twine: a wheelhouse for
# `pip install --find-links dist 'lamdis-http[postgres,openai]'`.
DIST ?= dist
dist: install
	UV=$(UV) bash scripts/build-dist.sh $(DIST)

# The container image (Dockerfile), built here without any image registry: the
# debian:bookworm-slim base made by mmdebstrap, a wheelhouse from the host, podman build
# --isolation=chroot. EXTRAS=postgres leaves the other adapters out.
IMAGE ?= lamdis:latest
EXTRAS ?= postgres,mongo,openai,bedrock,otel
image: install
	IMAGE=$(IMAGE) EXTRAS=$(EXTRAS) UV=$(UV) bash scripts/build-image.sh

# The image's lamdis serve against the test PostgreSQL, driven like the seed's CI job.
image-test: image
	bash scripts/ensure-postgres.sh
	LAMDIS_IMAGE=localhost/$(IMAGE) $(RUN) pytest -q -p no:cacheprovider tests/image

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache lamdis-results dist
