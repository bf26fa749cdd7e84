"""Run a transformers model whose weights stay on disk (the proof's memory bound).

The model is built with its parameters on the meta device (buffers such as rotary frequencies are real).
Just before a module's forward, its own parameters are read from the safetensors files in fp32 and put
in place; right after, they go back to meta. Embeddings read only the rows of the ids they are asked for
(the ids are renumbered for the call), and an output head reads only a chosen sample of rows. A linear
layer larger than BLOCK_BYTES in fp32 (an 8B model's MLP weight is 200 MB) is applied a block of output
rows at a time. Peak memory is therefore a block, or the largest other tensor (a smaller linear layer, a
norm, a convolution), whatever the depth, width or vocabulary.

Reads use pread into buffers we own, not mmap: mapped pages would count as resident memory.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

CHUNK_BYTES = 32 << 20
BLOCK_BYTES = 8 << 20  # fp32 weight rows a blocked linear layer holds at once (more blocks cost no time here)


def _torch_dtypes() -> dict:
    import torch
    return {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64}


class DiskTensors:
    """A checkpoint's tensors by name, read on demand (whole or by rows) into fresh fp32 tensors."""

    def __init__(self, model_dir: Path):
        from swiftplus.graft.safetensors_io import scan_checkpoint
        self.infos = scan_checkpoint(Path(model_dir))
        self._fds: dict[Path, int] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.infos

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def _fd(self, path: Path) -> int:
        if path not in self._fds:
            self._fds[path] = os.open(path, os.O_RDONLY)
        return self._fds[path]

    def tensor(self, name: str, rows: Sequence[int] | None = None):
        """fp32 copy of tensor `name`, or of its rows `rows` (in that order)."""
        import torch
        info = self.infos[name]
        dtype = _torch_dtypes().get(info.dtype)
        if dtype is None:
            raise ValueError(f"{info.file}: tensor {name} has dtype {info.dtype}; the proof reads float tensors only")
        shape = info.shape or (1,)
        row_bytes = info.nbytes // shape[0]
        runs = [(0, shape[0])] if rows is None else _runs(rows)
        out = torch.empty((sum(n for _, n in runs),) + tuple(shape[1:]), dtype=torch.float32)
        flat = out.view(out.shape[0], -1)
        fd = self._fd(info.file)
        at = 0
        step = max(1, CHUNK_BYTES // max(row_bytes, 1))
        for first, count in runs:
            done = 0
            while done < count:
                n = min(step, count - done)
                buf = bytearray(n * row_bytes)
                if os.preadv(fd, [buf], info.start + (first + done) * row_bytes) != len(buf):
                    raise ValueError(f"{info.file}: truncated while reading {name}")
                flat[at:at + n] = torch.frombuffer(buf, dtype=dtype).view(n, -1)
                at += n
                done += n
        return out.view(info.shape) if rows is None else out


def _runs(rows) -> list[tuple[int, int]]:
    """rows as (first, count) runs of consecutive rows, in the order given: a block is one read."""
    runs: list[list[int]] = []
    for r in rows:
        if runs and runs[-1][0] + runs[-1][1] == r:
            runs[-1][1] += 1
        else:
            runs.append([r, 1])
    return [(a, n) for a, n in runs]


def empty_model(build: Callable[[], object]):
    """build() under accelerate's init_empty_weights: parameters on meta, buffers real; eval mode."""
    from accelerate import init_empty_weights
    with init_empty_weights(include_buffers=False):
        model = build()
    return model.float().eval()


@contextmanager
def streamed(model, load: Callable[[str, Sequence[int] | None], object], *, head: str | None = None,
             head_rows: list[int] | None = None) -> Iterator[None]:
    """Within the block, model's parameters are read by `load(name, rows)` around each module's forward.

    `name` is the parameter's name in `model`; `rows` is None (whole tensor) or the rows wanted (a range: a
    block of a linear layer). The module named `head` (an output projection) gets only rows `head_rows`: its
    outputs are those rows' logits."""
    import torch
    hooks, blocked = [], []
    for mname, module in model.named_modules():
        own = [n for n, p in module.named_parameters(recurse=False)]
        if not own:
            continue
        prefix = f"{mname}." if mname else ""
        is_embedding = isinstance(module, torch.nn.Embedding)
        rows = head_rows if mname == head else None
        if rows is None and _blocked(module):
            module.forward = _blocked_forward(module, prefix, load)
            blocked.append(module)
            continue

        def before(mod, args, prefix=prefix, own=own, is_embedding=is_embedding, rows=rows):
            mod._streamed_meta = {n: mod._parameters[n] for n in own}
            if is_embedding:
                ids = args[0]
                uniq, inverse = torch.unique(ids, return_inverse=True)
                mod.weight = torch.nn.Parameter(load(prefix + "weight", uniq.tolist()), requires_grad=False)
                mod._streamed_padding_idx, mod.padding_idx = mod.padding_idx, None
                return (inverse.view_as(ids),) + tuple(args[1:])
            for n in own:
                mod._parameters[n] = torch.nn.Parameter(load(prefix + n, rows),
                                                        requires_grad=False)
            return None

        def after(mod, args, output, is_embedding=is_embedding):
            mod._parameters.update(mod._streamed_meta)  # back to meta: the loaded tensors are freed
            del mod._streamed_meta
            if is_embedding:
                mod.padding_idx = mod._streamed_padding_idx
            return None

        hooks.append(module.register_forward_pre_hook(before))
        hooks.append(module.register_forward_hook(after))
    try:
        yield
    finally:
        for h in hooks:
            h.remove()
        for module in blocked:
            del module.forward  # the class's own forward again


def _blocked(module) -> bool:
    import torch
    # exactly nn.Linear: a subclass may compute more than x @ W.T + b in its own forward
    return type(module) is torch.nn.Linear and module.in_features * module.out_features * 4 > BLOCK_BYTES


def _blocked_forward(module, prefix: str, load: Callable[[str, Sequence[int] | None], object]):
    """Linear's forward with the weight read BLOCK_BYTES of output rows at a time (the parameter stays on meta)."""
    import torch
    n, step = module.out_features, max(1, BLOCK_BYTES // (4 * module.in_features))
    has_bias = module.bias is not None

    def forward(x):
        bias = load(prefix + "bias", None) if has_bias else None
        out = x.new_empty(x.shape[:-1] + (n,))
        for first in range(0, n, step):
            last = min(n, first + step)
            out[..., first:last] = torch.nn.functional.linear(
                x, load(prefix + "weight", range(first, last)), None if bias is None else bias[first:last])
        return out
    return forward


def checkpoint_names(model, model_dir: Path, names: list[str]) -> dict[str, str]:
    """model parameter name -> checkpoint tensor name, by transformers' own load-time renaming (so hub and
    transformers-5 layouts both resolve); a tied output head maps to the input embedding's tensor."""
    from transformers.conversion_mapping import get_model_conversion_mapping
    from transformers.core_model_loading import (
        WeightConverter,
        WeightRenaming,
        rename_source_key,
    )
    conversions = get_model_conversion_mapping(model)
    renamings = [c for c in conversions if isinstance(c, WeightRenaming)]
    converters = [c for c in conversions if isinstance(c, WeightConverter)]
    meta = dict(model.state_dict())
    mapping = {}
    for name in names:
        target, _ = rename_source_key(name, renamings, converters, base_model_prefix=model.base_model_prefix,
                                      meta_state_dict=meta)
        mapping[target] = name
    params = dict(model.named_parameters(remove_duplicate=False))
    out_emb, in_emb = model.get_output_embeddings(), model.get_input_embeddings()
    if out_emb is not None and in_emb is not None:
        by_module = {id(m): n for n, m in model.named_modules()}
        head = f"{by_module[id(out_emb)]}.weight"
        embed = f"{by_module[id(in_emb)]}.weight"
        if head in params and head not in mapping and embed in mapping:
            mapping[head] = mapping[embed]
    return mapping
