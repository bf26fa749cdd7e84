"""Tiny checkpoints built once per test session, and grafts of them shared by the tests."""
import pytest

from tests.graft.tiny import build


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return lambda name: build(name, root / name)


@pytest.fixture(scope="session")
def grafted(tiny, tmp_path_factory):
    """family -> GraftResult of its tiny template + the tiny Qwen3 donor (proof included)."""
    from swiftplus.graft import graft
    root = tmp_path_factory.mktemp("grafts")
    cases = {"qwen3_vl": ("qwen3-vl", "qwen3", ()),
             "smolvlm": ("smolvlm2", "qwen3-tied", ()),
             "qwen2_5_vl": ("qwen2.5-vl", "qwen3", ("*.self_attn.q_norm.weight", "*.self_attn.k_norm.weight"))}
    done = {}

    def get(family):
        if family not in done:
            template, donor, allow = cases[family]
            done[family] = graft(tiny(template), tiny(donor), root / family, allow_dropped=allow, log=lambda s: None)
        return done[family]
    return get
