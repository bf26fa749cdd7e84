"""Safetensors without torch: read headers, write shards whose tensors come from byte ranges.

A safetensors file is an 8-byte little-endian header length, a JSON header (name -> dtype, shape,
data_offsets relative to the end of the header) and raw bytes. A tensor copied unchanged is therefore
a byte range, copied in bounded chunks (kernel-side where the OS allows), never a tensor in memory;
peak memory stays flat whatever the model size.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from swiftplus.core.errors import UserError

DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}
CHUNK_BYTES = 32 << 20  # bounded copy buffer: memory stays flat, large enough to run at disk speed
INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"


def numel(shape: Iterable[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


@dataclass(frozen=True)
class TensorInfo:
    """Where one stored tensor's bytes live."""
    name: str
    dtype: str
    shape: tuple[int, ...]
    file: Path
    start: int  # absolute byte offset in file
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


def read_header(path: Path) -> tuple[dict[str, TensorInfo], dict]:
    """Tensor infos of one .safetensors file, and its __metadata__."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw_len = f.read(8)
            if len(raw_len) != 8:
                raise UserError(f"{path}: not a safetensors file (shorter than 8 bytes).")
            (hlen,) = struct.unpack("<Q", raw_len)
            if hlen > 100 << 20:
                raise UserError(f"{path}: safetensors header of {hlen} bytes is implausible; the file is corrupt.")
            header = json.loads(f.read(hlen))
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read safetensors header ({e}).") from None
    base = 8 + hlen
    size = path.stat().st_size
    metadata = header.pop("__metadata__", None) or {}
    infos = {}
    for name, h in header.items():
        begin, end = h["data_offsets"]
        if h["dtype"] not in DTYPE_BYTES:
            raise UserError(f"{path}: tensor {name} has unsupported dtype {h['dtype']}.")
        if end - begin != numel(h["shape"]) * DTYPE_BYTES[h["dtype"]] or base + end > size:
            raise UserError(f"{path}: tensor {name} has a byte range that does not match its shape "
                            "or lies past the end of the file; the file is truncated or corrupt.")
        infos[name] = TensorInfo(name, h["dtype"], tuple(h["shape"]), path, base + begin, base + end)
    return infos, metadata


def weight_files(model_dir: Path) -> list[Path]:
    """The safetensors files of a checkpoint directory (sharded through an index, or single)."""
    model_dir = Path(model_dir)
    index = model_dir / INDEX_NAME
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        files = sorted(set(weight_map.values()))
        missing = [f for f in files if not (model_dir / f).is_file()]
        if missing:
            raise UserError(f"{model_dir}: {INDEX_NAME} names shard(s) that are missing: {', '.join(missing)}. "
                            "Re-download the checkpoint.")
        return [model_dir / f for f in files]
    if (model_dir / SINGLE_NAME).is_file():
        return [model_dir / SINGLE_NAME]
    found = sorted(model_dir.glob("*.safetensors"))
    if found:
        return found
    raise UserError(f"{model_dir}: no safetensors weights ({SINGLE_NAME} or {INDEX_NAME}). "
                    "swiftplus grafts safetensors checkpoints only; convert .bin weights first.")


def scan_checkpoint(model_dir: Path) -> dict[str, TensorInfo]:
    """Every tensor of a checkpoint, by name, from headers only."""
    tensors: dict[str, TensorInfo] = {}
    for path in weight_files(model_dir):
        infos, _ = read_header(path)
        for name, info in infos.items():
            if name in tensors:
                raise UserError(f"{model_dir}: tensor {name} is stored twice ({tensors[name].file.name} and "
                                f"{path.name}); the checkpoint is inconsistent.")
            tensors[name] = info
    return tensors


# ---- writing -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OutTensor:
    """One tensor of the output: name, dtype, shape and how its bytes are produced.

    Exactly one of `copy_from` (a byte range to copy), `zeros` (all-zero bytes) or `produce`
    (a callable yielding the bytes in order, for freshly initialised tensors) is set.
    """
    name: str
    dtype: str
    shape: tuple[int, ...]
    copy_from: TensorInfo | None = None
    zeros: bool = False
    produce: Callable[[], Iterator[bytes]] | None = None

    @property
    def nbytes(self) -> int:
        return numel(self.shape) * DTYPE_BYTES[self.dtype]


def _copy_range(src_fd: int, dst_fd: int, start: int, count: int) -> None:
    offset = start
    remaining = count
    use_kernel = hasattr(os, "copy_file_range")
    while remaining > 0:
        step = min(remaining, CHUNK_BYTES)
        n = 0
        if use_kernel:
            try:
                n = os.copy_file_range(src_fd, dst_fd, step, offset)
            except OSError:
                use_kernel = False  # e.g. across file systems on old kernels: fall back to a bounded buffer
            if n == 0:
                use_kernel = False  # some file systems (FUSE, procfs-like) copy nothing: read it ourselves
        if not use_kernel:
            data = os.pread(src_fd, step, offset)
            n = len(data)
            _write_all(dst_fd, data)
        if n <= 0:
            raise UserError(f"unexpected end of file while copying tensor bytes at offset {offset}.")
        offset += n
        remaining -= n


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_tensor(dst_fd: int, t: OutTensor, open_src: Callable[[Path], int]) -> None:
    if t.copy_from is not None:
        _copy_range(open_src(t.copy_from.file), dst_fd, t.copy_from.start, t.nbytes)
    elif t.zeros:
        zero = bytes(min(CHUNK_BYTES, t.nbytes))
        left = t.nbytes
        while left > 0:
            step = min(left, len(zero))
            _write_all(dst_fd, zero[:step] if step < len(zero) else zero)
            left -= step
    else:
        written = 0
        for chunk in t.produce():
            _write_all(dst_fd, chunk)
            written += len(chunk)
        if written != t.nbytes:
            raise RuntimeError(f"{t.name}: produced {written} bytes, expected {t.nbytes}")


def _header_bytes(tensors: list[OutTensor], metadata: dict) -> bytes:
    header: dict = {"__metadata__": metadata}
    offset = 0
    for t in tensors:
        header[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-(len(raw) + 8) % 8)  # data starts 8-byte aligned, as the reference writer does
    return struct.pack("<Q", len(raw)) + raw


def plan_shards(tensors: list[OutTensor], max_shard_bytes: int) -> list[list[OutTensor]]:
    shards: list[list[OutTensor]] = [[]]
    size = 0
    for t in tensors:
        if shards[-1] and size + t.nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(t)
        size += t.nbytes
    return shards


def write_checkpoint(out_dir: Path, tensors: list[OutTensor], max_shard_bytes: int = 5 << 30) -> list[str]:
    """Write tensors into shards (+ index when more than one) under out_dir; returns the file names."""
    out_dir = Path(out_dir)
    shards = plan_shards(tensors, max_shard_bytes)
    n = len(shards)
    names = [SINGLE_NAME] if n == 1 else [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
    src_fds: dict[Path, int] = {}

    def open_src(path: Path) -> int:
        if path not in src_fds:
            src_fds[path] = os.open(path, os.O_RDONLY)
        return src_fds[path]

    try:
        for name, shard in zip(names, shards):
            fd = os.open(out_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(fd, _header_bytes(shard, {"format": "pt"}))
                for t in shard:
                    _write_tensor(fd, t, open_src)
            finally:
                os.close(fd)
    finally:
        for fd in src_fds.values():
            os.close(fd)
    if n > 1:
        index = {"metadata": {"total_size": sum(t.nbytes for t in tensors)},
                 "weight_map": {t.name: name for name, shard in zip(names, shards) for t in shard}}
        (out_dir / INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n")
    return names
