# swiftplus: `make demo` runs the whole pipeline on the built-in tiny default; `make test` runs the tests.
# Every target installs what it needs first (a .venv beside this file), so both work from a fresh clone.
#   make stage1 RECIPE=qwen3-8b-vl SET="stage1.learning_rate=2e-5 stage1.save_steps=500"
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 make stage1 RECIPE=qwen3-8b-vl
#   make stage1 RECIPE=... PY=/path/to/env/bin/python   (use an existing environment as it is; installs nothing)

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY ?= $(VENV)/bin/python
# PY given on the command line means "this interpreter, as it is": the targets then install nothing.
INSTALL := $(if $(filter command line,$(origin PY)),,install)
RECIPE ?= tiny
SET ?=
ARGS ?=
STAMP := $(VENV)/.swiftplus-installed$(if $(GPU),-gpu)
SP := $(PY) -m swiftplus
SETS := $(foreach s,$(SET),--set '$(s)')
# GPU=1: also the GPU-only extras (vLLM, flash-attn, DeepSpeed), as on a GPU machine.
GPU ?=
comma := ,
EXTRAS := $(if $(GPU),dev$(comma)gpu,dev)
# The torch build pip finds on this kind of machine; a GPU machine may pass its own.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench validate plan graft stage1 stage2 lora export deploy deploy-stop \
        eval perf run rehearse data-lint doctor ls clean gpu-extra gpu-test

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch, torchvision" 2>/dev/null || $(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

gpu-extra: install  ## vLLM, flash-attn, DeepSpeed: only on a GPU machine
	$(PY) -m pip install -e ".[gpu]"

demo: $(INSTALL)
	$(SP) run tiny $(SETS) $(ARGS)

# pytest exits 5 when it collected nothing: that is a failure, not a pass.
test: $(INSTALL)
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran" >&2; exit 1; fi; exit $$rc

test-fast: $(INSTALL)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# On one GPU, at most 8 minutes: every shipped recipe rehearsed with its real settings, then stage 1's
# tokens/s of our command against seed 000's. Without CUDA the tests skip and the benchmark says why it stops.
gpu-test: $(INSTALL)
	timeout 480 bash -c '$(PY) -m pytest -m gpu -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	  $(PY) benchmarks/gpu_train.py || rc=$$?; exit $$rc'

bench: $(INSTALL)
	$(PY) benchmarks/graft.py
	$(PY) benchmarks/lint.py

validate plan graft export eval perf run rehearse: $(INSTALL)
	$(SP) $@ $(RECIPE) $(SETS) $(ARGS)

stage1: $(INSTALL)
	$(SP) train $(RECIPE) --stage 1 $(SETS) $(ARGS)

stage2: $(INSTALL)
	$(SP) train $(RECIPE) --stage 2 $(SETS) $(ARGS)

lora: $(INSTALL)
	$(SP) train $(RECIPE) --stage lora $(SETS) $(ARGS)

deploy: $(INSTALL)
	$(SP) deploy $(RECIPE) $(SETS) $(ARGS)

deploy-stop: $(INSTALL)
	$(SP) deploy $(RECIPE) --stop $(SETS) $(ARGS)

data-lint: $(INSTALL)
	$(SP) data lint $(RECIPE) $(SETS) $(ARGS)

doctor ls: $(INSTALL)
	$(SP) $@ $(ARGS)

clean:
	rm -rf runs/tiny .pytest_cache
