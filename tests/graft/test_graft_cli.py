"""`make graft RECIPE=...` end to end on fixtures: plan and summary printed, report written, re-run is a no-op,
and a graft stopped part-way leaves no output directory behind."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO

REPORT_KEYS = {"copied", "zero_init", "fresh_init", "dropped"}


def _recipe(tmp_path: Path, name: str = "g") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""
name: {name}
run_dir: {tmp_path / 'runs' / name}
swift: {{model_type: qwen3_vl, template: qwen3_vl}}
graft: {{template: "fixture:qwen3-vl", donor: "fixture:qwen3-tied"}}
""")
    return path


def _env(tmp_path: Path) -> dict:
    return {**os.environ, "SWIFTPLUS_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}


def _make_graft(recipe: Path, env: dict, **kw):
    # PY on the command line: use this interpreter as it is (the Makefile then installs nothing)
    return ["make", "-s", "--no-print-directory", "graft", f"RECIPE={recipe}", f"PY={sys.executable}"], \
        dict(cwd=REPO, env=env, text=True, **kw)


def _run(recipe: Path, env: dict) -> subprocess.CompletedProcess:
    argv, kw = _make_graft(recipe, env, capture_output=True, timeout=300)
    return subprocess.run(argv, **kw)


@pytest.mark.slow
def test_make_graft_prints_the_plan_writes_the_report_and_reruns_as_a_no_op(tmp_path):
    env = _env(tmp_path)
    recipe = _recipe(tmp_path)
    r = _run(recipe, env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = tmp_path / "runs" / "g" / "graft"
    # the weight plan, folded by layer, then the summary
    assert "target tensor" in r.stdout and "source" in r.stdout
    assert "model.visual.merger.linear_fc2.weight" in r.stdout and "random: output width 64 -> 96" in r.stdout
    assert re.search(r"model\.language_model\.layers\.\*\.self_attn\.q_norm\.weight +donor +\[32\] +BF16 +"
                     r"model\.layers\.\*\.self_attn\.q_norm\.weight \(x2\)", r.stdout)
    assert "graft (qwen3_vl, hub layout):" in r.stdout
    assert "text-only logits vs donor (all layers, fp32 CPU): max |diff| = 0 -> equal to the donor" in r.stdout
    assert "4 image tokens, 4 features, deepstack features injected 2/2, logits change with the image: True -> ok" \
        in r.stdout
    assert "ms-swift: --model_type qwen3_vl --template qwen3_vl" in r.stdout
    rep = json.loads((out / "graft_report.json").read_text())
    assert REPORT_KEYS <= set(rep) and rep["copied"] and rep["fresh_init"]
    assert rep["text_equivalence"]["max_abs_diff"] <= 1e-5 and rep["vision_reachability"]["ok"] is True
    assert (tmp_path / "cache" / "fixtures" / "qwen3-vl" / "config.json").is_file()

    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = _run(recipe, env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already complete for these inputs; nothing to do" in again.stdout
    assert "target tensor" not in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp


def _start_and_stop(recipe: Path, env: dict, out: Path, sig: int) -> int:
    """Start a graft, wait until it is writing its temporary output, send `sig`; its exit status."""
    argv, kw = _make_graft(recipe, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    proc = subprocess.Popen(argv, start_new_session=True, **kw)
    try:
        deadline = time.monotonic() + 120
        while not list(out.parent.glob(f".{out.name}.tmp-*/model.safetensors")):
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, sig)  # the whole group: make and the python it runs, as a terminal would
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_interrupted_graft_leaves_no_output(tmp_path):
    env = _env(tmp_path)
    recipe = _recipe(tmp_path, "stopped")
    out = tmp_path / "runs" / "stopped" / "graft"
    assert _start_and_stop(recipe, env, out, signal.SIGTERM) != 0
    assert not out.exists() and list(out.parent.iterdir()) == []  # the temporary output was removed too

    # killed outright it cannot clean up: no output either, and the next run clears the stale temp
    assert _start_and_stop(recipe, env, out, signal.SIGKILL) != 0
    assert not out.exists()
    r = _run(recipe, env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert sorted(p.name for p in out.parent.iterdir()) == ["graft"]
    assert json.loads((out / "swiftplus_graft.json").read_text())["complete"] is True


def test_graft_fetches_from_the_recipes_hub_when_the_section_names_none(monkeypatch):
    from swiftplus.core import hub
    from swiftplus.graft.recipe import graft_recipe
    from swiftplus.recipe.schema import Recipe

    asked = []

    def resolve(model, hub_name, what):
        asked.append((what, hub_name))
        raise RuntimeError("stop here")

    monkeypatch.setattr(hub, "resolve_model", resolve)
    recipe = Recipe(name="x", hub="hf", graft={"template": "a/b", "donor": "c/d"})
    with pytest.raises(RuntimeError, match="stop here"):
        graft_recipe(recipe)
    assert asked == [("graft.template", "hf")]


def test_the_donor_also_goes_into_each_host_with_the_host_s_own_options(monkeypatch, tmp_path, capsys):
    from types import SimpleNamespace

    from swiftplus.core import hub
    from swiftplus.graft import recipe as graft_recipe_mod
    from swiftplus.recipe.schema import Recipe

    calls = []
    families = {"a/b": "qwen3_vl", "e/f": "qwen2_5_vl"}

    def fake_graft(template, donor, out, **options):
        calls.append((str(template), str(donor), Path(out), options["allow_dropped"], options["merger_init"]))
        family = families[str(template)]
        return SimpleNamespace(swift={"swift_model_type": family, "swift_template": family,
                                      "swift_external_plugins": []})

    monkeypatch.setattr(hub, "resolve_model", lambda ref, hub_name, what: Path(ref))
    monkeypatch.setattr(graft_recipe_mod, "graft", fake_graft)
    host = {"name": "h", "template": "e/f", "allow_dropped": ["*.q_norm.weight"], "merger_init": "crop-copy",
            "swift": {"model_type": "qwen2_vl", "template": "qwen2_5_vl"}}
    recipe = Recipe(name="x", run_dir=str(tmp_path / "runs/x"), swift={"model_type": "qwen3_vl", "template": "qwen3_vl"},
                    graft={"template": "a/b", "donor": "c/d", "also_into": [host]})
    assert graft_recipe_mod.graft_recipe(recipe) == 0
    assert calls == [("a/b", "c/d", tmp_path / "runs/x/graft", (), "random"),
                     ("e/f", "c/d", tmp_path / "runs/x/graft-h", ("*.q_norm.weight",), "crop-copy")]
    err = capsys.readouterr().err
    assert "graft.also_into[0].swift.model_type is 'qwen2_vl' but the graft needs 'qwen2_5_vl'" in err
    assert "swift.model_type" not in err.replace("graft.also_into[0].swift.model_type", "")
