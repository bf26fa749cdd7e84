"""The data a rehearsal trains and scores on: the first rows of each local dataset, as they are, and small
synthetic sets in a recipe format where the real data is not here.

A sample keeps its rows byte for byte (a JSON Lines file's first lines, blank and broken ones included), so
what is wrong with them is found by the same lint and conversion that training runs; relative media keep
resolving where they did (command.py sets data_root).
"""
from __future__ import annotations

import json
from pathlib import Path

from swiftplus.core.errors import UserError
from swiftplus.data.reader import is_json_array, iter_array
from swiftplus.data.synthetic import RGB as COLOURS
from swiftplus.rehearse.rehearsal import Sample, Synthetic

QUESTION = "What colour is this image?"
SIZE = 64  # pixels a side: a few image tokens at any recipe's pixel budget


def write_sample(sample: Sample) -> int:
    """Copy the first `rows` rows of sample.source to sample.dest, on the lines they have in the source (so a
    lint's file:line names the user's own line); returns how many rows were copied."""
    source, dest = Path(sample.source), Path(sample.dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    if is_json_array(str(source)):
        count, text = _array_head(source, sample.rows)
        tmp.write_text(text, encoding="utf-8")
    else:
        count = 0
        with open(source, "rb") as f, open(tmp, "wb") as out:
            for raw in f:
                out.write(raw)
                count += bool(raw.strip())
                if count == sample.rows:
                    break
    tmp.replace(dest)
    return count


def _array_head(source: Path, n: int) -> tuple[int, str]:
    """The first n elements of a JSON array file, cut from its own text where its layout allows (elements on
    lines of their own), else re-written."""
    rows, next_line = [], None
    for line, row, error in iter_array(str(source)):
        if len(rows) == n:
            next_line = line
            break
        if error:
            raise UserError(f"{source}:{line}: {error}")
        rows.append(row)
    if next_line is not None:
        with open(source, encoding="utf-8-sig") as f:
            head = "".join(line for _, line in zip(range(next_line - 1), f)).rstrip().removesuffix(",")
        text = head + "\n]\n"
        try:
            if json.loads(text) == rows:
                return len(rows), text
        except ValueError:
            pass
    return len(rows), json.dumps(rows, ensure_ascii=False, indent=1) + "\n"


def _image(root: Path, name: str, rgb) -> Path:
    from PIL import Image

    path = root / "images" / f"{name}.png"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (SIZE, SIZE), rgb).save(path)
    return path.resolve()


def _row(fmt: str, image: str, answer: str, i: int) -> dict:
    if fmt == "swift":
        return {"messages": [{"role": "user", "content": f"<image>{QUESTION}"},
                             {"role": "assistant", "content": answer}], "images": [image]}
    if fmt == "llava":
        return {"id": str(i), "image": image, "conversations": [{"from": "human", "value": f"<image>\n{QUESTION}"},
                                                                {"from": "gpt", "value": answer}]}
    if fmt == "vision-tag":
        return {"conversations": [{"from": "user", "value": f"<|vision_start|>{image}<|vision_end|>{QUESTION}"},
                                  {"from": "assistant", "value": answer}]}
    if fmt == "cauldron":
        return {"images": [image], "texts": [{"user": QUESTION, "assistant": answer}]}
    raise UserError(f"no synthetic rows for dataset format {fmt!r}")


def write_synthetic(syn: Synthetic) -> Path:
    """A set of one-colour images asked their colour, in syn.format (a vmcq set is an EvalScope directory)."""
    dest = Path(syn.dest)
    root = dest if syn.format == "vmcq" else dest.parent
    names = list(COLOURS)
    images = [(str(_image(root, name, COLOURS[name])), name) for name in names]
    if syn.format == "vmcq":
        rows = [{"question": f"<image 1>{QUESTION}", "options": names, "image_1": images[i % 4][0],
                 "answer": "ABCD"[i % 4]} for i in range(syn.rows)]
        target = dest / "default_val.jsonl"
    else:
        rows = [_row(syn.format, *images[i % 4], i) for i in range(syn.rows)]
        target = dest
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(target)
    return dest
