"""Shared test setup: every test runs offline, against models built locally."""
import os
from pathlib import Path

import pytest

from tests.helpers import FAMILY, make_checkpoint, run_cli

# Set before anything imports transformers/modelscope so no test can reach a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["MODELSCOPE_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Every test runs on CPU, as calibrated, whatever GPUs the machine has; tests marked `gpu` get them back.
VISIBLE_GPUS = os.environ.get("CUDA_VISIBLE_DEVICES")
os.environ["CUDA_VISIBLE_DEVICES"] = ""


def has_gpu() -> bool:
    import shutil
    import subprocess

    if VISIBLE_GPUS == "" or not shutil.which("nvidia-smi"):
        return False
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return out.returncode == 0 and "GPU" in out.stdout


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_items and not has_gpu():
        skip = pytest.mark.skip(reason="needs a CUDA GPU (nvidia-smi finds none); `make gpu-test` on a GPU machine runs it")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _gpu_tests_see_the_gpus(request, monkeypatch):
    if request.node.get_closest_marker("gpu"):
        if VISIBLE_GPUS is None:
            monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        else:
            monkeypatch.setenv("CUDA_VISIBLE_DEVICES", VISIBLE_GPUS)


@pytest.fixture(autouse=True)
def _environment_restored():
    """ms-swift, imported in-process, writes settings into os.environ (its Qwen templates set IMAGE_MAX_TOKEN_NUM
    from MAX_PIXELS); swiftplus reads the same variables, so a test would otherwise see the one before it."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """built(name, seed=0, **overrides) -> a swiftplus.fixtures checkpoint, built once per session and
    shared by every test directory (build() is idempotent). Treat it as read-only: copy it to change it."""
    from swiftplus.fixtures import build

    root = tmp_path_factory.mktemp("fixtures")

    def get(name, seed=0, **overrides):
        key = f"{name}-s{seed}" + "".join(f"-{k}={v}" for k, v in sorted(overrides.items()))
        return build(name, root / key, seed=seed, **overrides)

    return get


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def fake_ckpt():
    return make_checkpoint


@pytest.fixture(scope="session")
def tiny_vl(tmp_path_factory) -> Path:
    """A randomly initialised tiny VLM standing in for a stage-2 checkpoint (answers garbage; the pipeline
    is what is tested)."""
    from swiftplus.fixtures import build

    return build(FAMILY[0], tmp_path_factory.mktemp("models") / f"tiny-{FAMILY[0]}")
