"""Shared test setup: every test runs offline, against models built locally."""
import os

import pytest

# Set before anything imports transformers/modelscope so no test can reach a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["MODELSCOPE_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
