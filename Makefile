# swiftplus: `make demo` runs the whole pipeline on the built-in tiny default; `make test` runs the tests.
# Every target installs what it needs first (a .venv beside this file), so both work from a fresh clone.
#   make stage1 RECIPE=qwen3-8b-vl SET="stage1.learning_rate=2e-5 stage1.save_steps=500"
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 make stage1 RECIPE=qwen3-8b-vl
#   make stage1 RECIPE=... PY=/path/to/env/bin/python   (use an existing environment as it is; installs nothing)
#   make install GPU=1        (on a CUDA machine: also vLLM, DeepSpeed and, if it can be built, flash-attn)
#   make doctor RECIPE=qwen3-8b-vl   (GPUs, packages, disk and memory this recipe needs, checked in seconds)

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY ?= $(VENV)/bin/python
# PY given on the command line means "this interpreter, as it is": the targets then install nothing.
INSTALL := $(if $(filter command line,$(origin PY)),,install)
RECIPE ?= tiny
SET ?=
ARGS ?=
GPU ?=
STAMP := $(VENV)/.swiftplus-installed$(if $(GPU),-gpu)
SP := $(PY) -m swiftplus
SETS := $(foreach s,$(SET),--set '$(s)')
# One torch for the CPU and the GPU install: the build vLLM 0.33.0 requires (torch==2.14.0, torchvision==0.29.0).
TORCH_SPEC ?= torch==2.14.0 torchvision==0.29.0
# Not a pyproject extra: its setup.py imports torch, so it installs only without build isolation, after torch.
FLASH_ATTN_SPEC ?= flash-attn==2.8.3.post2
COMMA := ,
EXTRAS := dev$(if $(GPU),$(COMMA)gpu)
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench validate plan graft stage1 stage2 lora export deploy deploy-stop \
        eval perf run rehearse data-lint doctor ls clean gpu-extra flash-attn gpu-test

install: $(STAMP)

# torch and the package in one resolution, so no dependency moves torch off the pin; GPU=1 adds the [gpu]
# extra (vLLM, DeepSpeed) to that same resolution, then tries flash-attn.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC) -e ".[$(EXTRAS)]"
	$(if $(GPU),@$(MAKE) --no-print-directory flash-attn PY=$(PY))
	touch $(STAMP) $(VENV)/.swiftplus-installed

gpu-extra:  ## the same as `make install GPU=1`
	@$(MAKE) --no-print-directory install GPU=1 $(if $(filter command line,$(origin PY)),PY=$(PY))

# Optional: a failed build leaves everything else installed and says how to run without it.
flash-attn:
	@$(PY) -c "import flash_attn" 2>/dev/null && echo "flash-attn is already installed" || \
	$(PY) -m pip install -q --no-build-isolation "$(FLASH_ATTN_SPEC)" || { \
	  echo "" >&2; \
	  echo "flash-attn ($(FLASH_ATTN_SPEC)) could not be installed: it needs a prebuilt wheel for this torch," >&2; \
	  echo "CUDA and Python from its GitHub releases, or nvcc to compile it, and its C++17 build does not" >&2; \
	  echo "compile against torch 2.14 (Dao-AILab/flash-attention#2863). Everything else is installed." >&2; \
	  echo "Run without it by using PyTorch's SDPA attention, e.g.:" >&2; \
	  echo "  make stage1 RECIPE=qwen3-8b-vl SET=\"stage1.attn_impl=sdpa\"   (likewise stage2 / lora)" >&2; \
	  echo "\`make doctor RECIPE=...\` names every setting that asks for flash_attn." >&2; \
	}

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

doctor: $(INSTALL)
	$(SP) doctor $(RECIPE) $(SETS) $(ARGS)

ls: $(INSTALL)
	$(SP) ls $(ARGS)

clean:
	rm -rf runs/tiny .pytest_cache
