"""The step table, the failure's real error line and the pointer to its fix, the doctor's estimates for the real
recipe, and `swiftplus run --rehearse` stopping before the real run when the rehearsal fails."""
from __future__ import annotations

import pytest

from swiftplus.cli import build_parser
from swiftplus.commands import run as run_command
from swiftplus.doctor import probe
from swiftplus.doctor import run as doctor_run
from swiftplus.recipe.load import load_recipe
from swiftplus.rehearse import estimate, table
from swiftplus.rehearse.table import fix_pointer
from swiftplus.rehearse.table import FAIL, NOT_RUN, PASS, StepResult

TORCHRUN_TAIL = [
    "  File \"/x/transformers/utils/generic.py\", line 578, in _missing_",
    "    raise ValueError(",
    "ValueError: cosine_wobble is not a valid SchedulerType, please select one of ['linear', 'cosine']",
    "E1130 04:00:00 torch/distributed/elastic/multiprocessing/api.py failed (exitcode: 1)",
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
    "subprocess.CalledProcessError: Command '['torchrun', ...]' returned non-zero exit status 1.",
]


def test_the_error_line_is_the_tools_own_not_its_launchers():
    assert table.error_line(TORCHRUN_TAIL).startswith("ValueError: cosine_wobble is not a valid SchedulerType")
    assert table.error_line(["all fine", "Train: 100%"]) is None


def test_the_fix_names_the_recipe_key_the_error_names():
    loaded = load_recipe("tiny", ["stage1.lr_scheduler_type=cosine_wobble"])
    fix = fix_pointer(loaded, "tiny", "stage1", table.error_line(TORCHRUN_TAIL))
    assert fix.startswith("stage1.lr_scheduler_type (cosine_wobble) in") and "swiftplus train tiny --stage 1" in fix
    generic = fix_pointer(loaded, "tiny", "stage1", "RuntimeError: out of memory")
    assert "swiftplus train tiny --stage 1" in generic and "lr_scheduler_type" not in generic


def test_the_table_has_one_row_per_step_with_its_estimate():
    results = [StepResult("graft", PASS, 5.25),
               StepResult("stage1", PASS, 40.0, peak_gib=[61.5, 60.25], estimate="70.0 GiB"),
               StepResult("stage2", FAIL, 3.0, error="ValueError: x", fix="fix x"), StepResult("deploy")]
    text = table.render(results)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["step", "result", "seconds"] and len(lines) == 5
    assert "61.5 60.2" in lines[2] and "70.0 GiB" in lines[2]
    assert lines[1].split()[-2:] == ["-", "-"]  # no GPU memory measured, no estimate
    assert NOT_RUN in lines[4]
    assert table.failure(results).step == "stage2"
    assert table.verdict(results, []).startswith("REHEARSAL FAILED at stage2")
    assert "| stage1 | pass | 40.0 | 61.5 60.2 | 70.0 GiB |" in table.markdown(results)


def test_the_verdict_names_what_was_not_rehearsed():
    ok = [StepResult("graft", PASS, 1.0)]
    assert table.verdict(ok, ["stage1.deepspeed (zero2)"]).endswith("Not rehearsed here: stage1.deepspeed (zero2).")


def test_the_estimate_is_the_doctors_for_the_real_recipe_on_this_nodes_topology():
    recipe = load_recipe("qwen3-8b-vl").recipe
    eight = {"NPROC_PER_NODE": "8"}
    stage1 = estimate.doctor_estimate(recipe, "stage1", eight, 8)
    assert stage1.endswith(" GiB (8 GPUs)")
    # what `swiftplus doctor` reports for the same stage and topology
    needs = doctor_run.stage_needs(recipe, "stage1", probe.lookup_for(recipe.hub, eight), eight, 8, None)
    assert f"memory ~{stage1.split()[0]} GiB per device" in "\n".join(doctor_run.describe(needs))
    # ZeRO-2 shards stage 2's optimizer state: one GPU holds far more of it than each of eight
    alone = estimate.doctor_estimate(recipe, "stage2", {}, 1)
    assert alone.endswith("(1 GPU)") and float(alone.split()[0]) > float(estimate.doctor_estimate(
        recipe, "stage2", eight, 8).split()[0])
    assert estimate.doctor_estimate(recipe, "deploy", {}, 0).endswith(" GiB (1 GPU)")
    for step in ("data", "graft", "eval", "lora"):  # nothing on a GPU, or no such section
        assert estimate.doctor_estimate(recipe, step, {}, 0) is None
    assert table.rows([StepResult("graft", PASS, 1.0, estimate=None)])[1][-1] == "-"


@pytest.mark.parametrize("rehearsal_rc,runs_real", [(1, False), (0, True)])
def test_run_rehearse_starts_the_real_run_only_after_its_preflight_and_a_passing_rehearsal(
        monkeypatch, rehearsal_rc, runs_real):
    called = []
    monkeypatch.setattr(run_command, "check_swift_version", lambda: "4.6")
    monkeypatch.setattr(run_command, "preflight", lambda loaded, stages: called.append("preflight"))
    monkeypatch.setattr(run_command, "rehearse", lambda loaded, ref: called.append("rehearse") or rehearsal_rc)
    monkeypatch.setattr(run_command, "run_pipeline", lambda loaded, **kw: called.append("run") or 0)
    rc = run_command.main(build_parser().parse_args(["run", "tiny", "--rehearse"]))
    # the real run's preflight first: seconds, where a machine that cannot run it would wait for a rehearsal
    assert called == (["preflight", "rehearse", "run"] if runs_real else ["preflight", "rehearse"])
    assert rc == (0 if runs_real else rehearsal_rc)
    called.clear()
    run_command.main(build_parser().parse_args(["run", "tiny", "--rehearse", "--skip-preflight"]))
    assert called == (["rehearse", "run"] if runs_real else ["rehearse"])
