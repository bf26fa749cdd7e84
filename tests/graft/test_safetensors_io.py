"""Byte-range streaming into shards, checked against the reference safetensors reader."""
import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from swiftplus.core.errors import UserError
from swiftplus.graft import safetensors_io as sio
from swiftplus.graft.fresh import fresh_producer


@pytest.fixture()
def source(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {"a.weight": rng.standard_normal((37, 11)).astype(np.float32),
               "b.bias": rng.standard_normal(5).astype(np.float16),
               "c.ids": np.arange(12, dtype=np.int64).reshape(3, 4)}
    save_file(tensors, tmp_path / "model.safetensors")
    return tmp_path, tensors


def test_headers_and_chunked_copies_round_trip(source, tmp_path, monkeypatch):
    src_dir, tensors = source
    infos = sio.scan_checkpoint(src_dir)
    assert {n: (i.dtype, i.shape) for n, i in infos.items()} == {
        "a.weight": ("F32", (37, 11)), "b.bias": ("F16", (5,)), "c.ids": ("I64", (3, 4))}
    monkeypatch.setattr(sio, "CHUNK_BYTES", 64)  # many chunks per tensor
    out = tmp_path / "out"
    out.mkdir()
    plan = [sio.OutTensor("x." + n, i.dtype, i.shape, copy_from=i) for n, i in infos.items()]
    plan.append(sio.OutTensor("z.bias", "F16", (300,), zeros=True))
    names = sio.write_checkpoint(out, plan, max_shard_bytes=1000)  # forces several shards
    assert len(names) > 1
    index = json.loads((out / sio.INDEX_NAME).read_text())
    assert set(index["weight_map"]) == {t.name for t in plan}
    assert index["metadata"]["total_size"] == sum(t.nbytes for t in plan)
    loaded = {}
    for name in names:
        loaded.update(load_file(out / name))
    for n, arr in tensors.items():
        np.testing.assert_array_equal(loaded["x." + n], arr)
    assert loaded["z.bias"].shape == (300,) and not loaded["z.bias"].any()


def test_fresh_bf16_and_crop_copy(source, tmp_path):
    src_dir, tensors = source
    info = sio.scan_checkpoint(src_dir)["a.weight"]
    out = tmp_path / "out"
    out.mkdir()
    grow = sio.OutTensor("grow.weight", "F32", (50, 11),
                         produce=fresh_producer("grow.weight", (50, 11), "F32", std=0.02, seed=1, crop_from=info))
    shrink = sio.OutTensor("shrink.weight", "F32", (20, 11),
                           produce=fresh_producer("shrink.weight", (20, 11), "F32", std=0.02, seed=1, crop_from=info))
    rand = sio.OutTensor("r.weight", "BF16", (64, 8), produce=fresh_producer("r.weight", (64, 8), "BF16", std=0.5, seed=3))
    sio.write_checkpoint(out, [grow, shrink, rand])
    import torch
    from safetensors.torch import load_file as load_torch
    got = load_torch(out / "model.safetensors")
    np.testing.assert_array_equal(got["grow.weight"][:37].numpy(), tensors["a.weight"])
    assert got["grow.weight"][37:].abs().max() > 0
    np.testing.assert_array_equal(got["shrink.weight"].numpy(), tensors["a.weight"][:20])
    r = got["r.weight"].float()
    assert got["r.weight"].dtype == torch.bfloat16 and 0.3 < float(r.std()) < 0.7
    again = b"".join(fresh_producer("r.weight", (64, 8), "BF16", std=0.5, seed=3)())
    assert again == got["r.weight"].view(torch.int16).numpy().tobytes()  # deterministic per seed and name


def test_truncated_file_is_refused(source, tmp_path):
    src_dir, _ = source
    data = (src_dir / "model.safetensors").read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes(data[:-10])
    with pytest.raises(UserError, match="truncated or corrupt"):
        sio.scan_checkpoint(bad)


def test_missing_weights_and_missing_shard_are_refused(tmp_path):
    with pytest.raises(UserError, match="no safetensors weights"):
        sio.weight_files(tmp_path)
    (tmp_path / sio.INDEX_NAME).write_text(json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors"}}))
    with pytest.raises(UserError, match="missing: model-00001-of-00002"):
        sio.weight_files(tmp_path)
