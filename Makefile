# Entry points (see README): `make lab` runs the kit on the bundled model, `make test` runs the tests. Each sets
# up .venv on its own from the lock files, showing progress; `make lock` refreshes them; `make test-latest`
# tries the newest versions pyproject.toml allows in .venv-latest.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check
# torch's CPU build on machines without an NVIDIA driver, so nothing pulls a multi-GB CUDA build; with one,
# the same version from PyPI (a CUDA build, which brings triton with it).
TORCH := $(shell sed -nE 's/^(torch==.*)$$/\1/p' requirements.lock)
HAS_CUDA := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo 1)
STEP = @printf '\n==> [%s] %s\n' "$$(date +%H:%M:%S)"

.PHONY: lab test venv venv-test lock test-latest test-outside bench lint

# the kit + notebooks (requirements.lock): no triton on a CPU machine, which never runs it
$(BIN)/.lab-installed: requirements.lock pyproject.toml
	$(STEP) "1/3 virtual environment $(VENV) (Python: $$($(PY) -V))"
	$(PY) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(STEP) "2/3 $(TORCH) ($(if $(HAS_CUDA),CUDA build: nvidia-smi found,CPU build: no nvidia-smi))"
	$(PIP) install --progress-bar on "$(TORCH)"
	$(STEP) "3/3 the locked versions of everything else (requirements.lock), then the kit itself"
	$(PIP) install --progress-bar on -r requirements.lock
	$(PIP) install --quiet --no-deps -e .
	@touch $@
	$(STEP) "set-up done: $$(du -sh $(VENV) | cut -f1) in $(VENV)"

# + test tools, triton (interpreter tests, kernel notebook), accelerate (requirements-test.lock)
$(BIN)/.test-installed: $(BIN)/.lab-installed requirements-test.lock
	$(STEP) "test tools (requirements-test.lock)"
	$(PIP) install --progress-bar on -r requirements-test.lock
	@touch $@
	$(STEP) "test set-up done: $$(du -sh $(VENV) | cut -f1) in $(VENV)"

venv: $(BIN)/.lab-installed
venv-test: $(BIN)/.test-installed

# JupyterLab rooted at the repository, opening the tour. Extra flags: make lab LAB_ARGS="--port 8899 --no-browser"
# (--allow-root only where we run as root, e.g. containers and CI machines: JupyterLab refuses root otherwise)
# jupyter-config/ layers the kit's defaults under the user's settings (see its README).
lab: venv
	JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter-config$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" $(BIN)/jupyter lab --ServerApp.root_dir=. $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks/01_tour.ipynb

# lint (below) first, then the whole suite
test: lint
	QNEXT_LAB_LOCKED=1 $(BIN)/python -m pytest -q

# transformers' own MoE modeling tests (qwen3_moe, qwen3_next, mixtral, qwen2_moe), every one, with "qnext" forced
# on every experts call (the slow job; `make test` runs the default subset). Their test files are not in the
# wheel: a copy in tests/outside/transformers_tests/ or TRANSFORMERS_REPO=<checkout at the installed version>.
test-outside: venv-test
	QNEXT_LAB_TRANSFORMERS_REPO="$(TRANSFORMERS_REPO)" $(BIN)/python tests/outside/run_transformers_suite.py --subset all

# Refresh the lock files from the newest versions pyproject.toml allows (.ci/lock says how), then `make test`.
lock:
	PY=$(PY) .ci/lock

# The newest allowed versions in their own venv: fast tests + quiet load; warns (LATEST_STRICT=1 fails).
test-latest:
	PY=$(PY) .ci/test-latest

# ruff's lint rules and its format check (pyproject.toml) over the code; `make test` runs this first
lint: venv-test
	$(BIN)/ruff check qnext_lab tests benchmarks
	$(BIN)/ruff format --check qnext_lab tests benchmarks

# The CPU benchmarks behind docs/benchmarks.md (tens of minutes on 2 cores).
bench: venv-test
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done
