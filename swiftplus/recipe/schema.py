"""swiftplus's own recipe keys (pydantic, extra="forbid").

Stage sections also carry ms-swift / EvalScope flags under their real names; those are the pydantic
"extras" of a stage and are checked against the installed tool by recipe/check.py, not here.
"""
from __future__ import annotations

import re
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from swiftplus.core.stages import LORA

Scalar = Union[str, int, float, bool]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Passthrough(BaseModel):
    """A section whose unknown keys are a tool's flags, validated against the installed tool."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @property
    def flags(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DatasetEntry(Strict):
    path: str
    format: Literal["auto", "swift", "llava", "vision-tag", "cauldron"] = "auto"
    data_root: str | None = None


SERVE_TYPE_KEYS = ("model_type", "template")


def _names_type(value: dict, what: str) -> dict:
    missing = [k for k in SERVE_TYPE_KEYS if not value.get(k)]
    if value and missing:
        raise ValueError(f"{what} must name both model_type and template (missing {', '.join(missing)})")
    return value


class HostGraft(Strict):
    """Another VLM the donor is grafted into, beside the recipe's own graft, so the run report can say what that
    host keeps of the donor (its text scores beside the donor's). Served as graft-NAME."""

    name: str = Field(description="letters, digits, '.', '_' or '-'; the run directory is graft-NAME")
    template: str = Field(description="VLM whose vision tower, projector and processor are kept")
    host: Literal["template", "donor"] = Field("template", description="as graft.host: whose decoder carries the donor")
    merger_init: Literal["random", "crop-copy"] = "random"
    allow_dropped: list[str] = Field(default_factory=list, description="globs of tensors the user accepts losing")
    swift: dict[str, Any] = Field(description="ms-swift flags that serve this graft (model_type, template, ...), "
                                              "in place of the recipe's swift model_type and template")

    @field_validator("name")
    @classmethod
    def _file_safe(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", value):
            raise ValueError(f"{value!r}: use letters, digits, '.', '_' or '-' (it names a run directory)")
        return value

    @field_validator("swift")
    @classmethod
    def _serves(cls, value: dict) -> dict:
        if not value:
            raise ValueError("must name the model_type and template that serve this graft")
        return _names_type(value, "swift")


class GraftSection(Strict):
    template: str = Field(description="VLM whose vision tower, projector and processor are kept")
    donor: str = Field(description="LLM that replaces the template's language model")
    family: str | None = Field(None, description="graft family (e.g. llava); default: the one that takes the template")
    donor_swift: dict[str, Any] = Field(
        default_factory=dict, description="ms-swift flags that serve the donor LLM alone (model_type, template, "
                                          "...): needed to deploy or evaluate the source `donor`")
    also_into: list[HostGraft] = Field(default_factory=list, description="other VLMs the same donor is grafted "
                                                                         "into, for the run report's comparison")
    output: str | None = Field(None, description="new HF checkpoint directory (default: <run_dir>/graft)")
    host: Literal["template", "donor"] = Field(
        "template", description="decoder that carries the donor's weights: the template VLM's own (seed 000's "
                                "choice; may drop donor tensors) or the donor's own architecture (lossless)")
    merger_init: Literal["random", "crop-copy"] = "random"
    allow_dropped: list[str] = Field(default_factory=list, description="globs of tensors the user accepts losing")
    hub: Literal["modelscope", "hf"] | None = None
    seed: int = 0
    proof: bool = True
    proof_layers: int | None = Field(None, ge=1, description="compare logits after this many decoder layers")

    @field_validator("donor_swift")
    @classmethod
    def _donor_type(cls, value: dict) -> dict:
        return _names_type(value, "donor_swift")

    @model_validator(mode="after")
    def _hosts_named_once(self):
        names = [h.name for h in self.also_into]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"also_into: {', '.join(twice)} named more than once")
        return self


class TrainSection(Passthrough):
    init: str | None = Field(
        None, description="graft | stage1 | stage2 | best | a checkpoint path or hub id (default: the previous stage)"
    )
    dataset: list[Union[str, DatasetEntry]] = Field(default_factory=list)
    val_dataset: list[Union[str, DatasetEntry]] = Field(default_factory=list)
    env: dict[str, Scalar] = Field(default_factory=dict)
    max_bad_fraction: float = Field(0.0, ge=0.0, le=1.0, description="share of dataset rows lint may reject")

    @field_validator("dataset", "val_dataset", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return [value] if isinstance(value, (str, dict)) else value


class DeploySection(Passthrough):
    from_: str = Field("auto", alias="from", description="graft | stage1 | stage2 | lora | export | PATH")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_key: str | None = Field(None, description="prefer SWIFTPLUS_API_KEY in the environment: a recipe is a file")
    allow_unauthenticated: bool = Field(False, description="serve a non-loopback host without an API key")
    env: dict[str, Scalar] = Field(default_factory=dict)
    ready_timeout: float = Field(900.0, gt=0, description="seconds to wait for /v1/models")


ASKED_OF = "the checkpoints asked this set (graft, stage1, ..., donor, graft-HOST); default: every one evaluated"


class LocalBenchmark(Strict):
    name: str
    path: str = Field(description="directory or file in EvalScope's general_vmcq / general_vqa layout")
    kind: Literal["vmcq", "vqa"] = "vmcq"
    subsets: list[str] = Field(default_factory=list)
    args: dict[str, Any] = Field(default_factory=dict, description="EvalScope dataset_args, e.g. prompt_template")
    sources: list[str] = Field(default_factory=list, description=ASKED_OF)


class SyntheticSection(Strict):
    """A generated visual task (the offline demo's data): written to <run_dir>/task before training."""

    task: Literal["shapes"] = "shapes"
    train: int = Field(400, ge=4)
    evaluate: int = Field(100, ge=4)
    size: int = Field(56, ge=28)
    seed: int = 0
    prompt_template: str | None = Field(None, description="EvalScope's multiple-choice template the rows must match")


class BenchmarkEntry(Strict):
    name: str
    limit: int | float | None = None
    subsets: list[str] = Field(default_factory=list)
    args: dict[str, Any] = Field(default_factory=dict, description="EvalScope dataset_args for this benchmark")
    sources: list[str] = Field(default_factory=list, description=ASKED_OF)


class EvalSection(Passthrough):
    backend: Literal["native", "vlmevalkit"] = "native"
    benchmarks: list[Union[str, BenchmarkEntry]] = Field(default_factory=list)
    local: list[LocalBenchmark] = Field(default_factory=list)
    limit: int | float | None = None
    generation_config: dict[str, Any] = Field(default_factory=dict)
    compare: list[str] = Field(default_factory=list, description="checkpoints to evaluate side by side")
    vlmevalkit: dict[str, Any] = Field(default_factory=dict, description="VLMEvalKit eval_config overrides")


class ExportSection(Passthrough):
    from_: str = Field(LORA, alias="from")
    merge_lora: bool = True


class Recipe(Strict):
    name: str
    description: str | None = None
    base: str | None = None
    run_dir: str | None = Field(None, description="default: runs/<name>")
    hub: Literal["modelscope", "hf"] = "modelscope"
    env: dict[str, Scalar] = Field(default_factory=dict, description="environment for every command")
    swift: dict[str, Any] = Field(default_factory=dict, description="ms-swift flags common to every swift command")
    plugins: list[str] = Field(default_factory=list, description="ms-swift plugins shipped in swiftplus.plugins")
    _ref: str = PrivateAttr(default="")
    synthetic: SyntheticSection | None = None
    graft: GraftSection | None = None
    stage1: TrainSection | None = None
    stage2: TrainSection | None = None
    lora: TrainSection | None = None
    export: ExportSection | None = None
    deploy: DeploySection | None = None
    eval: EvalSection | None = None

    @property
    def ref(self) -> str:
        """The recipe as the user named it on the command line (a shipped name or a path), for the commands that
        hints print; its name when it was built without one."""
        return self._ref or self.name

    def run_path(self) -> str:
        return self.run_dir or f"runs/{self.name}"

    def graft_output(self) -> str | None:
        if self.graft is None:
            return None
        return self.graft.output or f"{self.run_path()}/graft"

