"""Grafts of the fixture pairs without the proof: the doctor only counts their tensors."""
import pytest

from tests.graft.conftest import PAIRS, quiet


@pytest.fixture(scope="session")
def grafted(built, tmp_path_factory):
    from swiftplus.graft import graft

    root = tmp_path_factory.mktemp("doctor-grafts")
    done = {}

    def get(family):
        if family not in done:
            template, donor, allow = PAIRS[family]
            done[family] = graft(built(template), built(donor), root / family, allow_dropped=allow, proof=False,
                                 log=quiet)
        return done[family]

    return get
