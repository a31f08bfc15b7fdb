# Two entry points (see README): `make lab` and `make test`. Each creates .venv on its own.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: lab test venv bench

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU machines: the pinned CPU build first, so nothing later pulls a CUDA torch.
	if command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/pip install -q torch; else $(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -e ".[test]"
	touch $@

venv: $(BIN)/.installed

# JupyterLab rooted at the repository, opening the tour. Extra flags: make lab LAB_ARGS="--port 8899 --no-browser"
# (--allow-root only where we run as root, e.g. containers and CI machines: JupyterLab refuses root otherwise)
# jupyter-config/ layers the kit's defaults under the user's settings: no news pop-up (see its README).
lab: venv
	JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter-config$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" $(BIN)/jupyter lab --ServerApp.root_dir=. $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks/01_tour.ipynb

test: venv
	$(BIN)/python -m pytest -q

# The CPU benchmarks behind docs/benchmarks.md (tens of minutes on 2 cores).
bench: venv
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done
