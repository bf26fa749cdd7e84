"""The converted file loads with the JSON builder ms-swift uses, even when media rows start late."""
import json

import pytest

from swiftplus.data import DatasetSpec, convert_dataset, writer
from tests.data.test_lint_kinds import llava


def test_late_media_rows_are_hoisted_so_datasets_can_load_the_file(manifest, media, tmp_path):
    import datasets

    text_rows = [llava(("u", f"question {i} " + "pad " * 100), ("a", "answer")) for i in range(24000)]  # ~12 MB
    image_row = llava(("u", "<image>What?"), ("a", "A mug."), images=["images/a.jpg"])
    video_row = llava(("u", "<video>What?"), ("a", "A clip."), videos=["clip.mp4"])
    path, _ = manifest(text_rows + [image_row, video_row])
    out = tmp_path / "o.jsonl"
    result = convert_dataset([DatasetSpec(str(path), data_root=str(media))], str(out))
    assert result.written == 24002 and result.note and "24001, 24002" in result.note
    with open(out) as f:
        first, second = json.loads(f.readline()), json.loads(f.readline())
    assert first["images"] == [str(media / "images" / "a.jpg")] and second["videos"] == [str(media / "clip.mp4")]

    ds = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert len(ds) == 24002
    assert sum(1 for r in ds["images"] if r) == 1 and sum(1 for r in ds["videos"] if r) == 1


def test_early_media_rows_keep_the_order(manifest, media, tmp_path, monkeypatch):
    rows = [llava(("u", "Hi"), ("a", "Yo")), llava(("u", "<image>What?"), ("a", "A mug."), images=["images/a.jpg"])]
    path, _ = manifest(rows)
    out = tmp_path / "o.jsonl"
    result = convert_dataset([DatasetSpec(str(path), data_root=str(media))], str(out))
    assert result.note is None
    assert [("images" in json.loads(line)) for line in out.read_text().splitlines()] == [False, True]
    monkeypatch.setattr(writer, "HOIST_AFTER", 0)
    result = convert_dataset([DatasetSpec(str(path), data_root=str(media))], str(out))
    assert result.note and [("images" in json.loads(line)) for line in out.read_text().splitlines()] == [True, False]


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_outputs(n, manifest, tmp_path):
    path, _ = manifest([llava(("u", "Hi"), ("a", "Yo"))] * n or ["not json"])
    out = tmp_path / "o.jsonl"
    result = convert_dataset([DatasetSpec(str(path), "llava")], str(out))
    assert result.written == n and len(out.read_text().splitlines()) == n


def test_fields_ms_swift_reads_are_carried_and_hoisted(manifest, tmp_path, monkeypatch):
    """Tools, grounding objects, per-message loss and an empty system prompt ("" turns the template's default
    system off in ms-swift) reach the converted file; a late first row with a field still comes first."""
    import datasets

    plain = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
    rich = {"system": "",
            "messages": [{"role": "user", "content": "Find the mug"},
                         {"role": "assistant", "content": "<ref-object><bbox>", "loss": True}],
            "objects": {"ref": ["mug"], "bbox": [[1, 2, 3, 4]]},
            "tools": '[{"name": "search"}]'}
    path, _ = manifest([plain, rich])
    monkeypatch.setattr(writer, "HOIST_AFTER", 0)
    out = tmp_path / "o.jsonl"
    result = convert_dataset([DatasetSpec(str(path))], str(out))
    assert result.written == 2 and result.note and "row(s) 2" in result.note
    first = json.loads(out.read_text().splitlines()[0])
    assert first == {"messages": [{"role": "system", "content": ""}, {"role": "user", "content": "Find the mug"},
                                  {"role": "assistant", "content": "<ref-object><bbox>", "loss": True}],
                     "objects": rich["objects"], "tools": rich["tools"]}
    ds = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert ds[0]["objects"]["ref"] == ["mug"] and ds[1]["tools"] is None
