"""Grafts of the fixture pairs without the proof: the doctor only counts their tensors."""
import pytest

from tests.graft.conftest import PAIRS, quiet

# llava-family pairs: (vision source fixture, donor fixture); tests/graft/test_llava.py's, plus SmolVLM + Llama-3
LLAVA_PAIRS = {
    "llava:smolvlm+qwen3": ("smolvlm2", "qwen3-tied"),  # recipes/qwen3-smvl-llava
    "llava:siglip+qwen3": ("siglip", "qwen3"),  # recipes/qwen3-8b-siglip (untied donor)
    "llava:clip+llama3": ("clip", "llama3"),
    "llava:smolvlm+llama3": ("smolvlm2", "llama3"),
}


def graft_pair(key: str) -> tuple[str, str, str, tuple]:
    """(template fixture, donor fixture, graft family, allow_dropped) of a PAIRS or LLAVA_PAIRS key."""
    if key in LLAVA_PAIRS:
        return (*LLAVA_PAIRS[key], "llava", ())
    template, donor, allow = PAIRS[key]
    return template, donor, key, allow


@pytest.fixture(scope="session")
def grafted(built, tmp_path_factory):
    from swiftplus.graft import graft
    from swiftplus.graft.families import family_by_name

    root = tmp_path_factory.mktemp("doctor-grafts")
    done = {}

    def get(key):
        if key not in done:
            template, donor, family, allow = graft_pair(key)
            done[key] = graft(built(template), built(donor), root / key.replace(":", "-").replace("+", "-"),
                              family=family, host=family_by_name(family).host, allow_dropped=allow, proof=False,
                              log=quiet)
        return done[key]

    return get
