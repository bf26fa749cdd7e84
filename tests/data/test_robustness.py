"""Whatever a row holds, lint and convert report it; they never raise, and never write a row ms-swift rejects."""
import json
import random

import pytest

from swiftplus.data import DatasetSpec, convert_dataset, lint_dataset
from tests.data.test_formats import seed_rows

ODD = [None, 0, 1.5, True, "", " ", "<image>", "<video>", "<|vision_start|>", "x" * 3, [], {}, [None], [""],
       {"path": None}, {"user": 1}, ["images/a.jpg"], "images/a.jpg", "human", "gpt", "system", "tool_call"]


def mutate(value, rng):
    """Replace one random node of a row with an odd value, or delete a key, or duplicate a list item."""
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        roll = rng.random()
        if roll < 0.2:
            return {k: v for k, v in value.items() if k != key}
        if roll < 0.5:
            return {**value, key: rng.choice(ODD)}
        return {**value, key: mutate(value[key], rng)}
    if isinstance(value, list) and value:
        i = rng.randrange(len(value))
        roll = rng.random()
        if roll < 0.3:
            return value[:i] + [value[i]] + value[i:]
        if roll < 0.5:
            return value[:i] + value[i + 1:]
        return value[:i] + [mutate(value[i], rng)] + value[i + 1:]
    return rng.choice(ODD)


@pytest.mark.parametrize("fmt", ["llava", "swift", "vision-tag", "cauldron"])
def test_mutated_rows_never_raise(fmt, manifest, media, tmp_path):
    rng = random.Random(fmt)
    base = seed_rows(fmt)
    rows = base + [mutate(mutate(rng.choice(base), rng), rng) for _ in range(400)]
    path, starts = manifest(rows)
    spec = DatasetSpec(str(path), fmt, str(media))
    report = lint_dataset([spec])
    assert report.rows == len(rows)
    out = tmp_path / "o.jsonl"
    result = convert_dataset([spec], str(out))
    assert result.written + result.dropped == len(rows)
    for line in out.read_text().splitlines():
        row = json.loads(line)
        roles = [m["role"] for m in row["messages"]]
        assert "user" in roles and roles[-1] == "assistant"
        assert all(isinstance(m["content"], str) and m["content"].strip() for m in row["messages"])
        text = "".join(m["content"] for m in row["messages"])
        assert text.count("<image>") == len(row.get("images", []))
        assert text.count("<video>") == len(row.get("videos", []))
