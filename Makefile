# Everything runs from the project's own virtualenv; the first target that needs it creates it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install install-dev serve test lint train evaluate bench perf clean soak

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-run pip only when pyproject.toml changes.
$(VENV)/.runtime: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[embedded]'
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -e '.[embedded,train,dev,bench]'
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

serve: install  ## embedded Triton + gateway on 127.0.0.1:8080
	$(BIN)/healthcode serve

test: install-dev  ## the whole suite: unit tests, then real Triton + gateway
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The renderer draws Chinese text with a CJK font when one is installed (it works without one).
train: install-dev  ## regenerate model_repository/health_code_classifier/2/model.onnx and its threshold (<45 min)
	@command -v apt-get >/dev/null && ! fc-list 2>/dev/null | grep -qi microhei && \
		{ apt-get install -y -q fonts-wqy-microhei || sudo apt-get install -y -q fonts-wqy-microhei; } || true
	nice -n 10 $(BIN)/python -m training.train --out model_repository/health_code_classifier/2/model.onnx

evaluate: install-dev  ## test split, held-out layouts, factor families, decision rule, calibration, latency
	nice -n 10 $(BIN)/python -m training.evaluate --out training/evaluation.json

BENCH_ARGS ?=
bench: install-dev  ## old service vs gateway+Triton side by side; BENCH_ARGS=--quick for < 3 min
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

SOAK_ARGS ?=
soak: install-dev  ## c=2000 overload, then a 100,000-request soak; RSS of every process sampled
	$(BIN)/python -m benchmarks.soak $(SOAK_ARGS)

PERF_ARGS ?=
perf: install-dev  ## Triton's perf_analyzer on the health_code ensemble (gRPC, real JPEGs)
	@command -v apt-get >/dev/null && ! ldconfig -p | grep -q libb64.so.0d && \
		{ apt-get install -y -q libb64-0d || sudo apt-get install -y -q libb64-0d; } || true
	$(BIN)/python -m benchmarks.perf $(PERF_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
