# Everything runs from the project's own virtualenv; the first target that needs it creates it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install install-dev serve test lint train train-ocr-detector train-ocr-recognizer evaluate bench perf clean soak k8s-check chromium \
	ocr-models fonts ab wrk gpu-bundle gpu-run-cpu

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-run pip only when pyproject.toml changes. The base install is the SDK alone; the service
# needs the server and embedded extras.
$(VENV)/.runtime: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[embedded]'
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -e '.[embedded,train,dev,bench]'
	touch $@

install: $(VENV)/.runtime ocr-models
install-dev: $(VENV)/.dev ocr-models

# The OCR models of ?read=time (model_repository/ocr_text_*/1), too big to commit: copied from
# pinned RapidOCR wheels (see NOTICE.md there). Does nothing when they are there.
ocr-models: $(VENV)/.runtime
	$(BIN)/python -m gateway.ocr_models

# The renderer draws Chinese text with a CJK font (it works without); the independent test
# screens (benchmarks/time_screens.py) need Liberation Sans as well, and the CJK font for their
# Chinese styles.
fonts:
	@command -v apt-get >/dev/null && ! { fc-list | grep -qi microhei && fc-list | grep -qi liberationsans; } && \
		{ apt-get install -y -q fonts-wqy-microhei fonts-liberation || \
		  { apt-get update -q && apt-get install -y -q fonts-wqy-microhei fonts-liberation; } || \
		  sudo -n apt-get install -y -q fonts-wqy-microhei fonts-liberation; } || true

serve: install  ## embedded Triton + gateway on 127.0.0.1:8080
	$(BIN)/healthcode serve

test: install-dev chromium fonts ab wrk lint  ## lint, then the whole suite: unit tests, then real Triton + gateway
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Debian's Chromium for the browser tests (tests/integration/test_browser.py). Where apt-get or
# root is missing they are skipped, except in CI, where they fail.
chromium:
	@$(call apt_install,chromium,chromium)

# ApacheBench (Debian's apache2-utils): the load of `make bench` and benchmarks.alternate, one
# HTTP/1.0 connection a request; wrk: benchmarks.alternate --keep-alive, HTTP/1.1 connections kept
# open. Their tests (tests/integration/test_client_and_bench.py) are skipped without them, except in CI.
ab:
	@$(call apt_install,ab,apache2-utils)

wrk:
	@$(call apt_install,wrk,wrk)

# $(call apt_install,COMMAND,PACKAGE): Debian's PACKAGE unless COMMAND exists; nothing where
# apt-get or root is missing.
apt_install = command -v $(1) >/dev/null || ! command -v apt-get >/dev/null || \
	apt-get install -y -q $(2) || { apt-get update -q && apt-get install -y -q $(2); } || \
	sudo -n apt-get install -y -q $(2) || true

# Offline: renders every deploy/k8s overlay (pure Python; compared with kubectl where installed)
# and validates it against pinned Kubernetes schemas. `make test` runs the same tests.
k8s-check: install-dev  ## render + validate the Kubernetes manifests, no cluster needed
	$(BIN)/python -m pytest tests/deploy $(PYTEST_ARGS)

lint: install-dev  ## ruff (lint and format) and mypy (strict on gateway/ and clients/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The renderer draws Chinese text with a CJK font when one is installed (it works without one).
train: install-dev fonts  ## regenerate model_repository/health_code_classifier/2/model.onnx and its threshold (<45 min)
	nice -n 10 $(BIN)/python -m training.train --out model_repository/health_code_classifier/2/model.onnx

# The time reader's text detector, fine-tuned on the renderer's phone photos (~25 min on 2 cores):
# version 2 of ocr_text_detector, learnt from version 1 (the wheel's, written by make install).
train-ocr-detector: install-dev fonts  ## regenerate model_repository/ocr_text_detector/2/model.onnx
	nice -n 10 $(BIN)/python -m training.ocr_detector \
		--source model_repository/ocr_text_detector/1/model.onnx \
		--out model_repository/ocr_text_detector/2/model.onnx

train-ocr-recognizer: install-dev fonts  ## regenerate model_repository/ocr_text_recognizer/version_2_change.npz (~35 min)
	nice -n 10 $(BIN)/python -m training.ocr_recognizer \
		--detector model_repository/ocr_text_detector/1/model.onnx \
		--source model_repository/ocr_text_recognizer/1/model.onnx \
		--out model_repository/ocr_text_recognizer/version_2_change.npz
	$(BIN)/python -m gateway.ocr_models

evaluate: install-dev  ## test split, held-out layouts, factor families, decision rule, calibration, latency
	nice -n 10 $(BIN)/python -m training.evaluate --out training/evaluation.json

BENCH_ARGS ?=
bench: install-dev ab  ## old service vs gateway+Triton side by side; BENCH_ARGS=--quick for < 3 min
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

SOAK_ARGS ?=
soak: install-dev  ## c=2000 overload, then a 100,000-request soak; RSS of every process sampled
	$(BIN)/python -m benchmarks.soak $(SOAK_ARGS)

PERF_ARGS ?=
perf: install-dev  ## Triton's perf_analyzer on the health_code ensemble (gRPC, real JPEGs)
	@command -v apt-get >/dev/null && ! ldconfig -p | grep -q libb64.so.0d && \
		{ apt-get install -y -q libb64-0d || sudo apt-get install -y -q libb64-0d; } || true
	$(BIN)/python -m benchmarks.perf $(PERF_ARGS)

# The GPU run (benchmarks/gpu/README.md): what it carries to the GPU machine, in .device/ (ignored;
# name it in the device tool's `carry`): the wheels that machine lacks, the wheel's tritonserver
# and GPU_PYTHON's stub, the run's images. GPU_PYTHON is the GPU machine's Python.
GPU_PYTHON ?= 3.12
gpu-bundle: install-dev  ## the GPU run's bundle, .device/ (~45 MB; a few minutes)
	nice -n 10 $(BIN)/python -m benchmarks.gpu.bundle --python $(GPU_PYTHON)

# The same run in its CPU mode on this machine (default configs, short): every step but the GPU.
gpu-run-cpu: install-dev  ## benchmarks/gpu/run.sh --mode cpu --quick, with a bundle for this Python
	nice -n 10 $(BIN)/python -m benchmarks.gpu.bundle --out build/gpu-bundle/local \
		--python $$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
	PYTHON=$(BIN)/python OUT=build/gpu-run-cpu \
		BUNDLE=build/gpu-bundle/local/healthcode-gpu-bundle.tar.xz \
		nice -n 10 benchmarks/gpu/run.sh --mode cpu --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
