# Two entry points (see README): `make lab` and `make test`. Each creates .venv on its own.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: lab test venv demo bench

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU machines: the pinned CPU build first, so nothing later pulls a CUDA torch.
	if command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/pip install -q torch; else $(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -e ".[test]"
	touch $@

venv: $(BIN)/.installed

lab: venv
	$(BIN)/jupyter lab --notebook-dir=notebooks notebooks/01_tour.ipynb

demo: venv
	$(BIN)/python -m qnext_lab.demo --out out/routing.html

test: venv
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python benchmarks/run_all.py
