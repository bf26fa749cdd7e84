"""Grafts of the hub-layout fixtures (swiftplus.fixtures), made once per session, in the seeds' real pairings."""
import pytest

QK_NORM = ("*.self_attn.q_norm.weight", "*.self_attn.k_norm.weight")
# family -> (template fixture, donor fixture, allow_dropped)
PAIRS = {
    "qwen3_vl": ("qwen3-vl", "qwen3-tied", ()),  # seed 001: Qwen3-VL-2B + Qwen3-0.6B (tied, heads x head_dim != hidden)
    "smolvlm": ("smolvlm2", "qwen3-tied", ()),  # seed 004: SmolVLM2 + Qwen3-0.6B
    "qwen2_5_vl": ("qwen2.5-vl", "qwen3", QK_NORM),  # seed 000: Qwen2.5-VL-7B + Qwen3-8B (untied)
    "qwen2_5_vl_qwen3": ("qwen2.5-vl", "qwen3", ()),  # seed 000's pair, graft.host: donor (QK-norm kept)
}
FAMILIES = list(PAIRS)


def quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="session")
def grafted(built, tmp_path_factory):
    """grafted(family) -> GraftResult of the family's pair, proof included (read-only: copy to change)."""
    from swiftplus.graft import graft
    from swiftplus.graft.families import family_by_name

    root = tmp_path_factory.mktemp("grafts")
    done = {}

    def get(family):
        if family not in done:
            template, donor, allow = PAIRS[family]
            done[family] = graft(built(template), built(donor), root / family, host=family_by_name(family).host,
                                 allow_dropped=allow, log=quiet)
        return done[family]

    return get
