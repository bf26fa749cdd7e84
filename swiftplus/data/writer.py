"""Write rows as the JSON Lines `swift sft --dataset FILE.jsonl` reads natively, atomically.

Each line is {"messages": [{"role", "content"}], "images": [abs paths], "videos": [abs paths]} with `<image>` /
`<video>` placeholders in the content; empty media lists are left out. ms-swift loads the file with
datasets' JSON builder, which fixes the columns from the first 10 MB block: a column that first appears
later fails the whole load ("An error occurred while generating the dataset"). So when the first row with
a column (images, videos, tools, a message's loss, ...) starts past HOIST_AFTER bytes, well inside that
first block, it is moved to the top when the file is finished, and the result says so; otherwise the input
order is kept.
"""
from __future__ import annotations

import json
import os
import tempfile

from swiftplus.data.formats import Sample

HOIST_AFTER = 1 << 20


def swift_row(sample: Sample) -> dict:
    row: dict = {"messages": [{"role": t[0], "content": t[1], **(t[2] if len(t) > 2 else {})} for t in sample.turns]}
    if sample.images:
        row["images"] = sample.images
    if sample.videos:
        row["videos"] = sample.videos
    row.update(sample.extra)
    return row


def columns(row: dict) -> list[str]:
    """The columns (message fields as messages.KEY) a row brings that not every row has."""
    found = [k for k in row if k != "messages"]
    for message in row["messages"]:
        found += [f"messages.{k}" for k in message if k not in ("role", "content")]
    return found


class AtomicFile:
    """A temporary sibling renamed over `path` on success, removed on failure: never a half-written file."""

    def __init__(self, path: str, mode: str = "w"):
        self.path = os.path.abspath(path)
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
        self.f = os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8")

    def commit(self) -> None:
        self.f.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.f.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)


class SwiftWriter:
    def __init__(self, path: str):
        self.out = AtomicFile(path, "wb")
        self.rows = 0
        self.first_with: dict[str, tuple[int, int, int]] = {}  # key -> (row index, offset, length)
        self.offset = 0
        self.note: str | None = None

    def write(self, sample: Sample) -> None:
        row = swift_row(sample)
        data = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        for key in columns(row):
            if key not in self.first_with:
                self.first_with[key] = (self.rows, self.offset, len(data))
        self.out.f.write(data)
        self.offset += len(data)
        self.rows += 1

    def commit(self) -> None:
        missing = sorted({first for first in self.first_with.values() if first[1] >= HOIST_AFTER})
        if missing:
            self._hoist(missing)
        self.out.commit()

    def abort(self) -> None:
        self.out.abort()

    def _hoist(self, rows: list[tuple[int, int, int]]) -> None:
        self.out.f.flush()
        src = self.out.tmp
        hoisted = AtomicFile(self.out.path, "wb")
        try:
            with open(src, "rb") as f:
                for _, offset, length in rows:
                    f.seek(offset)
                    hoisted.f.write(f.read(length))
                f.seek(0)
                pos = 0
                for _, offset, length in rows:
                    _copy(f, hoisted.f, offset - pos)
                    f.seek(length, os.SEEK_CUR)
                    pos = offset + length
                _copy(f, hoisted.f, None)
        except BaseException:
            hoisted.abort()
            raise
        self.out.abort()
        self.out = hoisted
        self.note = (f"moved output row(s) {', '.join(str(r + 1) for r, _, _ in rows)} to the top so that the "
                     f"first lines carry every column (datasets infers columns from the first block)")


def _copy(src, dst, n: int | None, chunk: int = 1 << 20) -> None:
    while n is None or n > 0:
        data = src.read(chunk if n is None else min(chunk, n))
        if not data:
            return
        dst.write(data)
        if n is not None:
            n -= len(data)
