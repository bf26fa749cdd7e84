"""Local evaluation sets (EvalScope general_vmcq / general_vqa) checked before anything starts.

EvalScope looks for `<dir>/<subset>_<split>.<ext>` or `<dir>/<subset>.<ext>` (split: val for
general_vmcq, test for general_vqa) and opens image paths relative to its working directory. People
write image paths relative to the data file, as training manifests do, so a JSONL set whose
relative images resolve only next to the file is rewritten with absolute paths into the eval run
directory; an image found nowhere is reported with its file and line before any server starts.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from swiftplus.core.errors import UserError
from swiftplus.recipe.schema import LocalBenchmark
from swiftplus.recipe.wiring import EVAL_SET_EXTENSIONS as EXTENSIONS

SPLIT = {"vmcq": "val", "vqa": "test"}
MEDIA_KEY = re.compile(r"^(image|video|audio)_\d+$")


def data_files(local: LocalBenchmark) -> dict[str, Path]:
    """subset -> the file EvalScope will read for it; UserError naming the expected files otherwise."""
    path = Path(local.path).expanduser()
    subsets = local.subsets or ["default"]
    if path.is_file():
        if path.suffix not in EXTENSIONS:
            raise UserError(f"eval.local {local.name}: {path} must be one of {', '.join(EXTENSIONS)}")
        return {s: path for s in subsets}
    if not path.is_dir():
        raise UserError(f"eval.local {local.name}: {path} does not exist")
    found = {}
    for subset in subsets:
        names = [f"{subset}_{SPLIT[local.kind]}{ext}" for ext in EXTENSIONS] + [f"{subset}{ext}" for ext in EXTENSIONS]
        hit = next((path / n for n in names if (path / n).is_file()), None)
        if hit is None:
            raise UserError(f"eval.local {local.name}: no file for subset '{subset}' in {path}; expected "
                            f"{subset}_{SPLIT[local.kind]}.jsonl (or .csv/.tsv/.parquet, or {subset}.jsonl)")
        found[subset] = hit
    return found


def _is_plain_path(value) -> bool:
    return isinstance(value, str) and value != "" and not re.match(r"^(https?|data|file):", value)


def _media_refs(row: dict):
    """(getter-setter pairs) for every media path a row carries: image_N, images[], OpenAI image_url parts."""
    for key in list(row):
        if MEDIA_KEY.match(key) and _is_plain_path(row[key]):
            yield row, key
    for key in ("images", "videos", "audios"):
        if isinstance(row.get(key), list):
            for i, v in enumerate(row[key]):
                if _is_plain_path(v):
                    yield row[key], i
    for message in row.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            url = part.get("image_url") if isinstance(part, dict) else None
            if isinstance(url, dict) and _is_plain_path(url.get("url")):
                yield url, "url"


def _resolve(file: Path, line: int, ref: str, cwd: Path) -> tuple[str, bool]:
    p = Path(ref).expanduser()
    if p.is_absolute():
        if not p.is_file():
            raise UserError(f"{file}:{line}: media file {ref} does not exist")
        return str(p), False
    if (cwd / p).is_file():
        return ref, False
    beside = file.parent / p
    if beside.is_file():
        return str(beside.resolve()), True
    raise UserError(f"{file}:{line}: media file {ref} not found (looked in {cwd} and {file.parent})")


def prepare(local: LocalBenchmark, dest: Path, cwd: Path | None = None) -> Path:
    """The path to give EvalScope for this set: the original, or a copy with absolute media paths in `dest`."""
    cwd = cwd or Path.cwd()
    files = data_files(local)
    rewritten: dict[Path, list[str]] = {}
    for file in dict.fromkeys(files.values()):
        if file.suffix != ".jsonl":
            continue  # csv/tsv/parquet are passed through as they are
        lines, changed = [], False
        for n, text in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except ValueError as e:
                raise UserError(f"{file}:{n}: not a JSON object ({e.msg})") from None
            for holder, key in list(_media_refs(row)):
                holder[key], moved = _resolve(file, n, holder[key], cwd)
                changed |= moved
            lines.append(json.dumps(row, ensure_ascii=False))
        if changed:
            rewritten[file] = lines
    if not rewritten:
        return Path(local.path).expanduser().resolve()
    dest.mkdir(parents=True, exist_ok=True)
    for file, lines in rewritten.items():
        tmp = dest / f".{file.name}.tmp"
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(dest / file.name)
    for file in dict.fromkeys(files.values()):  # untouched files of the same set sit beside the rewritten ones
        if file not in rewritten:  # replace, never keep: an earlier run's rewritten copy may be outdated
            (dest / file.name).unlink(missing_ok=True)
            (dest / file.name).symlink_to(file.resolve())
    source = Path(local.path).expanduser()
    return (dest / source.name) if source.is_file() else dest
