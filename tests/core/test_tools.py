"""Flags are read from the installed tools' argument classes without importing them."""
import dataclasses

import pytest

from swiftplus.core.tools import fields_for
from swiftplus.recipe.check import check_tool_flags


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
    from evalscope.config import TaskConfig
    from swift.arguments import DeployArguments, ExportArguments, SftArguments

    for target, cls in (("sft", SftArguments), ("deploy", DeployArguments), ("export", ExportArguments)):
        assert set(fields_for(target)) == {f.name for f in dataclasses.fields(cls) if f.init}
    assert set(fields_for("evalscope")) == set(TaskConfig.model_fields)


def test_scalar_types_read_from_the_source_match_the_imported_dataclasses():
    import typing

    from swift.arguments import SftArguments

    def scalar(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if typing.get_origin(tp) in (typing.Union, __import__("types").UnionType) and len(args) == 1:
            tp = args[0]
        return tp.__name__ if tp in (int, float, bool) else None

    hints = typing.get_type_hints(SftArguments)
    ours = fields_for("sft")
    mismatched = {name: (ours[name].scalar, scalar(hints[name])) for name in ours
                  if name in hints and ours[name].scalar != scalar(hints[name])}
    assert not mismatched
    assert ours["max_length"].scalar == "int" and ours["learning_rate"].scalar == "float"
