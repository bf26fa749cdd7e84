"""Manifests written the way the seeds write them, with the line each row starts on known independently."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image


def write_manifest(path: Path, rows: list, *, array: bool) -> list[int]:
    """Write rows as JSON Lines or as an indented JSON array (json.dump(..., indent=2) layout). A row given
    as a str is written verbatim (broken JSON). Returns the line each row starts on."""
    starts, parts, line = [], [], 1
    if array:
        parts.append("[\n")
        line += 1
    for i, row in enumerate(rows):
        text = row if isinstance(row, str) else json.dumps(row, indent=2 if array else None, ensure_ascii=False)
        if array:
            text = "\n".join("  " + t for t in text.split("\n"))
            text += ",\n" if i < len(rows) - 1 else "\n"
        else:
            text += "\n"
        starts.append(line)
        parts.append(text)
        line += text.count("\n")
    if array:
        parts.append("]\n")
    path.write_text("".join(parts), encoding="utf-8")
    return starts


@pytest.fixture
def media(tmp_path) -> Path:
    """A data root with real images of several formats, a video-named file and a few broken files."""
    root = tmp_path / "media"
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (64, 48), (200, 10, 10)).save(root / "images" / "a.jpg")
    Image.new("RGB", (80, 60), (10, 200, 10)).save(root / "images" / "b.png")
    Image.new("RGB", (32, 32), (10, 10, 200)).save(root / "images" / "c.webp")
    Image.new("RGB", (4000, 3000), (1, 2, 3)).save(root / "images" / "big.png")
    Image.new("RGB", (4, 4)).save(root / "images" / "tiny.png")
    Image.new("RGB", (2000, 8)).save(root / "images" / "strip.png")
    (root / "images" / "notes.jpg").write_text("this is not an image\n")
    data = (root / "images" / "a.jpg").read_bytes()
    (root / "images" / "cut.jpg").write_bytes(data[: len(data) // 2])
    (root / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    return root


@pytest.fixture
def manifest(tmp_path):
    def make(rows, *, array=False, name=None):
        path = tmp_path / (name or ("data.json" if array else "data.jsonl"))
        return path, write_manifest(path, rows, array=array)

    return make
