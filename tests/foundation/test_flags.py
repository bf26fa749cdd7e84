"""Flags are read from the installed tools' argument classes without importing them."""
import dataclasses

import pytest

from swiftplus.flags import fields_for
from swiftplus.recipe_check import check_tool_flags


def test_core_flags_known():
    sft = fields_for("sft")
    for name in ("tuner_type", "freeze_vit", "freeze_llm", "freeze_aligner", "deepspeed", "learning_rate",
                 "model_type", "template", "external_plugins", "check_model", "add_version"):
        assert name in sft
    assert "train_type" not in sft
    assert "transformers" in fields_for("deploy")["infer_backend"].choices


def test_suggestions():
    (p,) = check_tool_flags("sft", {"train_type": "full"}, ("stage1",))
    assert "did you mean tuner_type" in p.message
    (p,) = check_tool_flags("deploy", {"vllm_gpu_memory_utilisation": 0.9}, ("deploy",))
    assert "did you mean vllm_gpu_memory_utilization" in p.message
    (p,) = check_tool_flags("sft", {"torch_dtype": "bf16"}, ("stage1",))
    assert "must be one of" in p.message


@pytest.mark.slow
def test_ast_reading_matches_the_imported_dataclasses():
    from swift.arguments import DeployArguments, ExportArguments, SftArguments
    from evalscope.config import TaskConfig

    for target, cls in (("sft", SftArguments), ("deploy", DeployArguments), ("export", ExportArguments)):
        assert set(fields_for(target)) == {f.name for f in dataclasses.fields(cls) if f.init}
    assert set(fields_for("evalscope")) == set(TaskConfig.model_fields)
