"""--fix / convert: a clean ms-swift file plus a fixes list; every input row ends up in one or both."""
import json

import pytest

from swiftplus.data import DatasetSpec, convert_dataset
from swiftplus.data import kinds as K
from tests.data.test_lint_kinds import CASES, GOOD, llava


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("array", [False, True], ids=["jsonl", "json"])
def test_nothing_dropped_silently(array, manifest, media, tmp_path):
    broken = [row for kind, sev, fmt, row, opts in CASES if fmt == "llava" and not opts]
    rows = [GOOD["llava"][0]] + [r for b in broken for r in (b, GOOD["llava"][1])]
    path, starts = manifest(rows, array=array)
    out = tmp_path / "clean.jsonl"
    result = convert_dataset([DatasetSpec(str(path), data_root=str(media))], str(out))

    written, fixes = read_jsonl(out), read_jsonl(tmp_path / "clean.fixes.jsonl")
    dropped = {f["line"] for f in fixes if f["action"] == "dropped"}
    repaired = {f["line"] for f in fixes if f["action"] == "repaired"}
    assert not dropped & repaired
    assert dropped | repaired <= set(starts)
    assert len(written) == len(rows) - len(dropped) == result.written
    assert result.rows == len(rows) and result.dropped == len(dropped) and result.repaired == len(repaired)
    for f in fixes:
        assert f["file"] == str(path) and f["why"] and f["kind"] in K.KINDS and f["kind"] in f["kinds"]
        assert all(K.KINDS[k] for k in f["kinds"])
    assert result.dropped_rows == [f for f in fixes if f["action"] == "dropped"]
    # what was written is what ms-swift needs: roles alternate from the user, placeholders match, paths absolute
    for row in written:
        roles = [m["role"] for m in row["messages"]]
        assert roles[0] == "user" and roles[-1] == "assistant"
        assert all(a != b for a, b in zip(roles, roles[1:]))
        text = "".join(m["content"] for m in row["messages"])
        assert text.count("<image>") == len(row.get("images", []))
        assert all(p.startswith(("/", "https://")) for p in row.get("images", []) + row.get("videos", []))


def test_repairs(manifest, media, tmp_path):
    rows = [llava(("a", "Hello!"), ("u", "Hi"), ("a", "How can I help?")),
            llava(("u", "one"), ("u", "two"), ("a", "three")),
            llava(("u", "q"), ("a", "r"), ("u", "and?")),
            llava(("u", "What?"), ("a", "A mug."), images=["images/a.jpg"])]
    path, starts = manifest(rows)
    out = tmp_path / "o.jsonl"
    result = convert_dataset([DatasetSpec(str(path), data_root=str(media))], str(out))
    assert result.dropped == 0 and result.repaired == 4
    got = [[(m["role"], m["content"]) for m in r["messages"]] for r in read_jsonl(out)]
    assert got == [[("user", "Hi"), ("assistant", "How can I help?")],
                   [("user", "one\ntwo"), ("assistant", "three")],
                   [("user", "q"), ("assistant", "r")],
                   [("user", "<image>What?"), ("assistant", "A mug.")]]
    fixes = read_jsonl(tmp_path / "o.fixes.jsonl")
    assert [(f["line"], f["kind"], f["action"]) for f in fixes] == [
        (starts[0], K.FIRST_NOT_USER, "repaired"), (starts[1], K.ROLES_NOT_ALTERNATING, "repaired"),
        (starts[2], K.LAST_NOT_ASSISTANT, "repaired"), (starts[3], K.IMPLICIT_PLACEHOLDERS, "repaired")]


def test_relative_paths_resolved_beside_the_manifest(tmp_path, media):
    manifest_path = media / "train.jsonl"  # images/a.jpg exists beside it
    manifest_path.write_text(json.dumps(llava(("u", "<image>x"), ("a", "y"), images=["images/a.jpg"])) + "\n")
    out = tmp_path / "o.jsonl"
    result = convert_dataset([DatasetSpec(str(manifest_path))], str(out))
    assert result.repaired == 1 and result.report.ok
    assert read_jsonl(out)[0]["images"] == [str(media / "images" / "a.jpg")]


def test_failure_leaves_no_output(manifest, media, tmp_path, monkeypatch):
    path, _ = manifest(GOOD["llava"])
    out = tmp_path / "o.jsonl"
    import swiftplus.data.writer as writer

    def boom(self, sample):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer.SwiftWriter, "write", boom)
    with pytest.raises(RuntimeError):
        convert_dataset([DatasetSpec(str(path), data_root=str(media))], str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["media", path.name])


def test_bad_output_names(manifest, tmp_path):
    from swiftplus.core.errors import UserError

    path, _ = manifest(GOOD["text-only"])
    with pytest.raises(UserError, match="must end in .jsonl"):
        convert_dataset([DatasetSpec(str(path))], str(tmp_path / "o.json"))
    with pytest.raises(UserError, match="also an input"):
        convert_dataset([DatasetSpec(str(path))], str(path))
    with pytest.raises(UserError, match="no such file"):
        convert_dataset([DatasetSpec(str(tmp_path / "nope.jsonl"))], str(tmp_path / "o.jsonl"))
    with pytest.raises(UserError, match="unknown format"):
        convert_dataset([DatasetSpec(str(path), "sharegpt")], str(tmp_path / "o.jsonl"))
