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


def pytest_collection_modifyitems(config, items):
    """Tests marked gpu skip cleanly on a machine without CUDA (torch is imported only when one is collected)."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_tests:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none visible); `make gpu-test` on a GPU machine runs it")
    for item in gpu_tests:
        item.add_marker(skip)


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
