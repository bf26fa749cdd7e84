"""The ms-swift range is checked before anything else, and agrees with pyproject.toml."""
import re

import pytest

from swiftplus.core.errors import UserError
from swiftplus.core.tools import SWIFT_RANGE, check_swift_version, versions
from tests.helpers import REPO


def test_range_matches_pyproject():
    text = (REPO / "pyproject.toml").read_text()
    (spec,) = re.findall(r'"ms-swift([^"]+)"', text)
    assert spec == SWIFT_RANGE


@pytest.mark.parametrize("found", ["4.6.0", "4.6.3", "4.6.1.post1"])
def test_tested_versions_pass(found):
    assert check_swift_version(found) == found


@pytest.mark.parametrize("found", ["3.12.0", "4.5.2", "4.7.0", "5.0.0", "garbage"])
def test_other_versions_stop_with_the_remedy(found):
    with pytest.raises(UserError) as e:
        check_swift_version(found)
    msg = str(e.value)
    assert f"ms-swift {found} is installed" in msg and f"pip install 'ms-swift{SWIFT_RANGE}'" in msg


def test_installed_version_is_in_range_and_recorded():
    v = versions()
    assert check_swift_version() == v["ms-swift"]
    assert v["python"] and v["transformers"] and v["torch"] and v["swiftplus"]


def test_train_checks_the_version_before_reading_the_recipe(cli, tmp_path):
    # a shim distribution metadata claiming ms-swift 4.7.0 shadows the installed one
    meta = tmp_path / "site" / "ms_swift-4.7.0.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: ms-swift\nVersion: 4.7.0\n")
    import os

    env = dict(os.environ, PYTHONPATH=f"{tmp_path / 'site'}:{REPO}")
    r = cli("train", "does-not-exist", "--stage", "1", env=env)
    assert r.returncode == 2
    assert "ms-swift 4.7.0 is installed" in r.stderr and "Traceback" not in r.stderr
