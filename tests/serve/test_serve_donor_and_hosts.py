"""The donor alone and the host grafts are served with their own model type and template, not the recipe's."""
import json
from pathlib import Path

import pytest

from swiftplus.core.errors import UserError
from swiftplus.core.tools import fields_for
from swiftplus.graft import MARKER
from swiftplus.recipe.load import load_recipe
from swiftplus.serve import server as srv
from swiftplus.serve.command import launch, served_model


def arg(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs/tiny/... of this test only
    monkeypatch.setenv("SWIFTPLUS_CACHE", str(tmp_path / "cache"))
    return load_recipe("tiny").recipe


def test_the_donor_is_served_alone_as_the_qwen3_it_was_taught_as(tiny, tmp_path):
    served = served_model(tiny, "donor")
    assert served.source == "donor" and served.model == str(tmp_path / "cache" / "fixtures" / "qwen3-colours")
    argv = launch(tiny, served).argv
    assert (arg(argv, "--model_type"), arg(argv, "--template")) == ("qwen3", "qwen3")
    assert arg(argv, "--torch_dtype") == "float32"  # the recipe's other swift flags still apply
    assert {a[2:] for a in argv if a.startswith("--")} <= set(fields_for("deploy"))
    vl = launch(tiny, served_model(tiny, "graft")).argv
    assert (arg(vl, "--model_type"), arg(vl, "--template")) == ("qwen3_vl", "qwen3_vl")


def test_a_host_graft_is_served_with_its_own_flags(tiny):
    served = served_model(tiny, "graft-qwen2.5-vl")
    assert served.model == "runs/tiny/graft-qwen2.5-vl" and not served.resolved
    argv = launch(tiny, served).argv
    assert [arg(argv, f) for f in ("--model_type", "--template", "--system")] == ["qwen2_5_vl", "qwen2_5_vl", ""]
    with pytest.raises(UserError, match="run `swiftplus graft tiny` first"):
        srv.check_served(tiny, served)
    out = Path(tiny.run_path()) / "graft-qwen2.5-vl"
    out.mkdir(parents=True)
    (out / MARKER).write_text(json.dumps({"complete": True}))
    assert served_model(tiny, "graft-qwen2.5-vl").resolved


def test_a_directory_named_like_an_undeclared_host_is_a_path(tiny):
    served = served_model(tiny, "graft-nope")
    assert served.source == "path" and served.swift == {}
