"""`swiftplus data lint|convert` as a user runs them: exit 0 clean, 1 errors, 2 bad input."""
import json
import subprocess
import sys

from swiftplus.cli import main
from tests.data.test_formats import seed_rows
from tests.data.test_lint_kinds import GOOD, llava
from tests.helpers import REPO


def test_lint_clean_and_dirty(manifest, media, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # rich wraps to the terminal width
    good, _ = manifest(seed_rows("llava"), name="good.json", array=True)
    assert main(["data", "lint", str(good), "--data-root", str(media)]) == 0
    out = capsys.readouterr().out
    assert "clean" in out and "llava" in out

    bad, starts = manifest([GOOD["llava"][0], llava(("u", "<image>x"), ("a", "y"), images=["images/nope.jpg"])],
                           name="bad.jsonl")
    assert main(["data", "lint", str(bad), "--data-root", str(media)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:{starts[1]}" in out and "missing_file" in out and "1 with errors" in out


def test_lint_json_output(manifest, media, capsys):
    bad, starts = manifest([GOOD["llava"][0], "{oops", llava(("u", "q"), ("a", "r"), ("u", "s"))])
    assert main(["data", "lint", str(bad), "--data-root", str(media), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 3 and out["bad_rows"] == 1 and out["repaired_rows"] == 1
    assert [(i["line"], i["kind"]) for i in out["issues"]] == [(starts[1], "json_error"),
                                                              (starts[2], "last_not_assistant")]
    assert out["by_severity"]["error"] == {"json_error": 1}


def test_lint_fix_writes_clean_file_and_fixes(manifest, media, tmp_path, capsys):
    bad, starts = manifest([GOOD["llava"][0], "{oops", llava(("u", "q"), ("a", "r"), ("u", "s"))])
    out = tmp_path / "clean.jsonl"
    assert main(["data", "lint", str(bad), "--data-root", str(media), "--fix", "--out", str(out)]) == 1
    assert "2 rows" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 2
    fixes = [json.loads(x) for x in (tmp_path / "clean.fixes.jsonl").read_text().splitlines()]
    assert [(f["line"], f["action"]) for f in fixes] == [(starts[1], "dropped"), (starts[2], "repaired")]
    # the clean file lints clean
    assert main(["data", "lint", str(out)]) == 0


def test_convert_with_budget(manifest, media, tmp_path, capsys):
    path, _ = manifest([llava(("u", "<image>x"), ("a", "y"), images=["images/big.png"]), GOOD["llava"][0]])
    out = tmp_path / "o.jsonl"
    rc = main(["data", "convert", str(path), "--data-root", str(media), "--out", str(out),
               "--max-length", "1024", "--template", "qwen2_vl", "--json"])
    assert rc == 1
    result = json.loads(capsys.readouterr().out)
    assert result["converted"]["written"] == 1 and result["counts"] == {"over_token_budget": 1}


def test_user_errors_exit_2_without_traceback(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "swiftplus", "data", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=120)

    r = run("lint", str(tmp_path / "nope.jsonl"))
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr
    r = run("lint", str(tmp_path / "x.jsonl"), "--fix")
    assert r.returncode == 2 and "--out" in r.stderr
    r = run("lint", str(tmp_path / "x.jsonl"), "--max-length", "10")
    assert r.returncode == 2 and "--template" in r.stderr
    r = run("convert", str(tmp_path / "x.jsonl"))
    assert r.returncode == 2 and "--out" in r.stderr


def test_lint_a_recipe_uses_each_stage_budget(tmp_path, media, monkeypatch, capsys):
    rows = [llava(("u", "<image>x"), ("a", "y"), images=["images/big.png"]),
            llava(("u", "<image>x"), ("a", "y"), images=["images/a.jpg"])]
    (tmp_path / "train.json").write_text(json.dumps(rows, indent=2))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
swift: {{model_type: qwen2_vl, template: qwen2_vl}}
lora:
  init: /models/qwen2-vl
  dataset: [{{path: {tmp_path / 'train.json'}, format: llava, data_root: {media}}}]
  max_length: 1024
""")
    assert main(["data", "lint", str(recipe), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["counts"] == {"over_token_budget": 1} and out["text_tokens"] == "estimated"


def test_a_note_on_every_row_is_shown_once_per_file_and_errors_stay_on_the_first_screen(tmp_path, media, capsys,
                                                                                        monkeypatch):
    """Relative image paths with no data_root, resolved beside the manifest: a repair on all 60 rows. The one
    real error (row 61) must still be among the first lines shown."""
    import shutil

    monkeypatch.setenv("COLUMNS", "300")
    shutil.copytree(media / "images", tmp_path / "images")
    rows = [llava(("u", "<image>x"), ("a", "y"), images=["images/a.jpg"]) for _ in range(60)]
    rows.append(llava(("u", "<image>x"), ("a", "y"), images=["images/nope.jpg"]))
    path = tmp_path / "rel.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["data", "lint", str(path)]) == 1
    out = capsys.readouterr().out
    # the kinds table (repaired, error), the one error row, the one line for the 60 repairs
    assert f"{path}:61" in out and out.count("relative_path_without_root") == 4
    assert "(and 59 more rows of this file like it)" in out
