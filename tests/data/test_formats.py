"""The seeds' four formats: detected per file and converted to ms-swift's messages/images jsonl."""
import json

import pytest

from swiftplus.data import DatasetSpec, convert_dataset, lint_dataset
from swiftplus.data.lint import resolve_format


def seed_rows(fmt):
    """Two rows per format, shaped as in seeds 001-004: one with an image, one more."""
    if fmt == "llava":  # seed 001
        return [{"id": "sample-0001", "images": ["images/a.jpg"], "conversations": [
                    {"from": "human", "value": "<image>\nDescribe the main object."},
                    {"from": "gpt", "value": "A mug."}]},
                {"id": "sample-0002", "conversations": [
                    {"from": "human", "value": "Translate: Pick up the red block."},
                    {"from": "gpt", "value": "请拿起红色方块。"}]}]
    if fmt == "swift":  # seed 002: images as a bare string
        return [{"messages": [{"role": "user", "content": "<image>请描述这个图片"},
                              {"role": "assistant", "content": "这个图片描述的是……"}],
                 "images": "images/a.jpg"},
                {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "<image>Color?"},
                              {"role": "assistant", "content": "Green."}], "images": ["images/b.png"]}]
    if fmt == "vision-tag":  # seed 003
        return [{"id": "identity_1", "conversations": [
                    {"from": "user", "value": "COCO Yes: <|vision_start|>images/a.jpg<|vision_end|>"},
                    {"from": "assistant", "value": "A snow skier assessing the mountain"}]},
                {"id": "identity_2", "conversations": [
                    {"from": "user", "value": "COCO Yes: <|vision_start|>images/b.png<|vision_end|>"},
                    {"from": "assistant", "value": "A green square"}]}]
    if fmt == "cauldron":  # seed 004
        return [{"images": ["images/a.jpg"], "texts": [
                    {"user": "How many dog in there.", "assistant": "There are Three dogs.", "source": "cocoqa"}]},
                {"images": ["images/b.png", "images/c.webp"], "texts": [
                    {"user": "Compare.", "assistant": "Different colors."},
                    {"user": "Which is bigger?", "assistant": "The second."}]}]
    raise AssertionError(fmt)


EXPECTED_FIRST_USER = {"llava": "<image>\nDescribe the main object.", "swift": "<image>请描述这个图片",
                       "vision-tag": "COCO Yes: <image>", "cauldron": "<image>How many dog in there."}


@pytest.mark.parametrize("array", [False, True], ids=["jsonl", "json"])
@pytest.mark.parametrize("fmt", ["llava", "swift", "vision-tag", "cauldron"])
def test_detected_linted_and_converted(fmt, array, manifest, media, tmp_path):
    path, _ = manifest(seed_rows(fmt), array=array)
    spec = DatasetSpec(str(path), data_root=str(media))
    assert resolve_format(spec) == fmt

    report = lint_dataset([spec])
    assert report.ok and report.rows == 2 and report.issues == [], report.issues

    out = tmp_path / "out.jsonl"
    result = convert_dataset([spec], str(out))
    assert (result.rows, result.written, result.dropped, result.repaired) == (2, 2, 0, 0)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2
    first = rows[0]
    assert first["images"] == [str(media / "images" / "a.jpg")]
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]
    assert first["messages"][0]["content"] == EXPECTED_FIRST_USER[fmt]
    assert set(first) <= {"messages", "images", "videos"}
    for row in rows:  # every image has exactly one placeholder, every path is absolute
        text = "".join(m["content"] for m in row["messages"])
        assert text.count("<image>") == len(row.get("images", []))
        assert all(p.startswith("/") for p in row.get("images", []))
    assert out.with_name("out.fixes.jsonl").read_text() == ""


def test_cauldron_multi_turn_and_images_before_text(manifest, media, tmp_path):
    path, _ = manifest(seed_rows("cauldron"))
    out = tmp_path / "o.jsonl"
    convert_dataset([DatasetSpec(str(path), "cauldron", str(media))], str(out))
    second = json.loads(out.read_text().splitlines()[1])
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user", "assistant"]
    assert second["messages"][0]["content"] == "<image><image>Compare."
    assert len(second["images"]) == 2


def test_swift_system_turn_kept(manifest, media, tmp_path):
    path, _ = manifest(seed_rows("swift"))
    out = tmp_path / "o.jsonl"
    convert_dataset([DatasetSpec(str(path), data_root=str(media))], str(out))
    second = json.loads(out.read_text().splitlines()[1])
    assert second["messages"][0] == {"role": "system", "content": "Be brief."}


def test_vision_tag_video_by_extension(manifest, media, tmp_path):
    rows = [{"conversations": [{"from": "user", "value": "Watch <|vision_start|>clip.mp4<|vision_end|> then "
                                                         "<|vision_start|>images/a.jpg<|vision_end|>"},
                               {"from": "assistant", "value": "Done."}]}]
    path, _ = manifest(rows)
    out = tmp_path / "o.jsonl"
    result = convert_dataset([DatasetSpec(str(path), data_root=str(media))], str(out))
    assert result.written == 1
    row = json.loads(out.read_text())
    assert row["messages"][0]["content"] == "Watch <video> then <image>"
    assert row["videos"] == [str(media / "clip.mp4")] and row["images"] == [str(media / "images" / "a.jpg")]


def test_explicit_format_wins_over_detection(manifest, media):
    path, _ = manifest(seed_rows("llava"))
    report = lint_dataset([DatasetSpec(str(path), "swift", str(media))])
    assert report.bad_rows == 2 and report.counts == {"no_conversation": 2}


def test_llava_singular_image_and_video_keys(manifest, media, tmp_path):
    rows = [{"image": "images/a.jpg", "conversations": [{"from": "human", "value": "<image>\nWhat?"},
                                                         {"from": "gpt", "value": "A mug."}]},
            {"video": "clip.mp4", "conversations": [{"from": "human", "value": "<video>\nWhat?"},
                                                    {"from": "gpt", "value": "A clip."}]}]
    path, _ = manifest(rows)
    out = tmp_path / "o.jsonl"
    result = convert_dataset([DatasetSpec(str(path), data_root=str(media))], str(out))
    assert result.written == 2 and result.report.ok
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    video_row = next(r for r in rows if "videos" in r)
    image_row = next(r for r in rows if "images" in r)
    assert video_row["videos"] == [str(media / "clip.mp4")]
    assert image_row["images"] == [str(media / "images" / "a.jpg")]


def test_several_files_of_different_formats_into_one(manifest, media, tmp_path):
    a, _ = manifest(seed_rows("llava"), name="a.json", array=True)
    b, _ = manifest(seed_rows("cauldron"), name="b.jsonl")
    out = tmp_path / "o.jsonl"
    result = convert_dataset([DatasetSpec(str(a), data_root=str(media)), DatasetSpec(str(b), data_root=str(media))],
                             str(out))
    assert result.written == 4
    assert [f["format"] for f in result.report.files] == ["llava", "cauldron"]
