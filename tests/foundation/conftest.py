import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd=REPO, env=None):
    """The CLI as a user runs it: a fresh interpreter, its exit status and both streams."""
    return subprocess.run([sys.executable, "-m", "swiftplus", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def write_recipe(tmp_path):
    def write(text: str, name: str = "r.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
