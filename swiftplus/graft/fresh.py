"""Freshly initialised tensors (the projector layers whose width changed), produced in bounded chunks.

numpy, not torch: importing torch alone costs ~0.5 GB of RSS, more than the whole graft may use.
Weights follow transformers' Linear init (normal(0, initializer_range)), biases are zero; `crop-copy`
keeps the template's first rows (a byte prefix of the row-major tensor) and initialises the rest.
"""
from __future__ import annotations

import os
import zlib
from typing import Callable, Iterator

from swiftplus.graft.safetensors_io import DTYPE_BYTES, TensorInfo, numel

CHUNK_ELEMS = 4 << 20


def _to_dtype_bytes(x, dtype: str) -> bytes:
    import numpy as np
    if dtype == "F32":
        return x.astype("<f4").tobytes()
    if dtype == "F16":
        return x.astype("<f2").tobytes()
    if dtype == "F64":
        return x.astype("<f8").tobytes()
    if dtype == "BF16":
        u = x.astype("<f4").view("<u4")
        rounded = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
        return rounded.astype("<u2").tobytes()
    raise ValueError(f"cannot initialise a tensor of dtype {dtype}")


def crop_bytes(shape: tuple[int, ...], crop_from: TensorInfo) -> int:
    """How many leading bytes of crop_from a crop-copy keeps: its first rows, as many as the new tensor has."""
    return min(shape[0], crop_from.shape[0]) * numel(shape[1:]) * DTYPE_BYTES[crop_from.dtype]


def fresh_producer(name: str, shape: tuple[int, ...], dtype: str, *, std: float, seed: int,
                   crop_from: TensorInfo | None = None) -> Callable[[], Iterator[bytes]]:
    """A callable yielding the new tensor's bytes in order."""
    rows = shape[0]
    row_elems = numel(shape[1:])
    is_bias = name.endswith(".bias")

    def produce() -> Iterator[bytes]:
        import numpy as np
        rng = np.random.Generator(np.random.PCG64([seed, zlib.crc32(name.encode())]))
        done = 0
        if crop_from is not None:
            keep = min(rows, crop_from.shape[0])
            left = crop_bytes(shape, crop_from)
            fd = os.open(crop_from.file, os.O_RDONLY)
            try:
                offset = crop_from.start
                while left > 0:
                    data = os.pread(fd, min(left, CHUNK_ELEMS * 4), offset)
                    if not data:
                        raise RuntimeError(f"{crop_from.file}: truncated while reading {crop_from.name}")
                    yield data
                    offset += len(data)
                    left -= len(data)
            finally:
                os.close(fd)
            done = keep
        step = max(1, CHUNK_ELEMS // max(row_elems, 1))
        while done < rows:
            n = min(step, rows - done)
            if is_bias:
                x = np.zeros(n * row_elems, dtype=np.float32)
            else:
                x = rng.standard_normal(n * row_elems, dtype=np.float32) * np.float32(std)
            yield _to_dtype_bytes(x, dtype)
            done += n

    return produce
