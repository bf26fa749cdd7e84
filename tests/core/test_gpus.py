"""GPUs from nvidia-smi's CSV and CUDA_VISIBLE_DEVICES, as CUDA would pick them; no torch."""
import pytest

from swiftplus.core import gpus
from swiftplus.core.gpus import Gpu, parse_smi, select

SMI = """0, GPU-1f2e3d4c-aaaa-bbbb-cccc-000000000000, NVIDIA H100 80GB HBM3, 81559
1, GPU-9a8b7c6d-aaaa-bbbb-cccc-111111111111, NVIDIA H100 80GB HBM3, 81559
2, GPU-5e5e5e5e-aaaa-bbbb-cccc-222222222222, NVIDIA A100-SXM4-40GB, 40960
"""
INSTALLED = parse_smi(SMI)


def test_parse_smi():
    assert [g.index for g in INSTALLED] == [0, 1, 2]
    assert INSTALLED[2] == Gpu(2, "GPU-5e5e5e5e-aaaa-bbbb-cccc-222222222222", "NVIDIA A100-SXM4-40GB", 40960)
    assert parse_smi("No devices were found\n") == []


@pytest.mark.parametrize("cuda,chosen", [
    (None, [0, 1, 2]),  # unset: every GPU
    ("2,0", [2, 0]),  # CUDA's order is the list's
    ("GPU-9a8b", [1]),  # a UUID prefix
    ("0,-1,1", [0]),  # CUDA stops at the first invalid entry
    ("0,7,1", [0]),
    ("1,1", [1]),  # a repeat is invalid too
])
def test_select_follows_cuda_visible_devices(cuda, chosen):
    assert [g.index for g in select(cuda, INSTALLED)] == chosen


def test_without_nvidia_smi_only_the_listed_count_is_known():
    assert select("0,1,2,3", None) == 4


def test_visible(monkeypatch):
    monkeypatch.setattr(gpus, "_smi", lambda: (INSTALLED, "nvidia-smi"))
    found = gpus.visible({"CUDA_VISIBLE_DEVICES": "0,2"})
    assert found.count == 2 and found.min_memory_gib == 40.0
    assert "2 x NVIDIA A100-SXM4-40GB 40 GiB, NVIDIA H100 80GB HBM3 80 GiB" in found.describe()
    assert gpus.visible({"CUDA_VISIBLE_DEVICES": ""}).count == 0  # empty: none, whatever nvidia-smi says
    monkeypatch.setattr(gpus, "_smi", lambda: (None, "nvidia-smi not found"))
    none = gpus.visible({"CUDA_VISIBLE_DEVICES": "0,1"})
    assert none.count == 0 and "cannot confirm the 2 listed" in none.source
