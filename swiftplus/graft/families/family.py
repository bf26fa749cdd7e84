"""What a family declares: everything the other packages ask of one VLM architecture.

How it is chosen (template_model_types, host), how the graft lays out and rewrites its tensors and config, its
ms-swift model type / template / plugin, its parameter counts for the doctor (pure: sizes.py's building blocks),
its tiny fixtures for the rehearsal, and the inference backends that can serve its checkpoints and why the others
cannot. A family with no template_model_types grafts nothing: it stands for a model swiftplus only trains and
serves (Qwen2-VL), so its counts, fixture and backends still have one owner.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from swiftplus.core.errors import UserError
from swiftplus.graft.config import VISION_TOKEN_KEYS
from swiftplus.graft.families.sizes import Params, decoder_params, text_config
from swiftplus.plugins import PLUGINS_DIR

# the inference backends whose own model registries the serving declarations were read from (vLLM 0.33:
# vllm/model_executor/models/registry.py; LMDeploy: lmdeploy/pytorch/models/module_map.py); another backend is
# not judged here: it decides for itself when it starts
JUDGED = ("transformers", "vllm", "lmdeploy")
NO_ARCHITECTURE = "its model registry has no such architecture"


@dataclass(frozen=True)
class Layout:
    vision_prefixes: tuple[str, ...]  # template tensors kept (vision tower + projector)
    text_prefix: str  # where the decoder's `model.*` tensors go
    lm_head: str = "lm_head.weight"
    name: str = "hub"


@dataclass(frozen=True)
class TokenPlan:
    """Vision token ids of the graft, and tokens the tokenizer must carry (content -> id)."""
    ids: dict[str, int]
    required: dict[str, int] = field(default_factory=dict)
    extra_special_tokens: dict[str, str] = field(default_factory=dict)  # tokenizer_config attributes


@dataclass(frozen=True)
class Serving:
    """Which backends build a family's checkpoints. A backend that cannot fails minutes into `swift deploy`, after
    the weights load; its registry says so up front."""
    architectures: tuple[str, ...]  # config.json architectures of the family's checkpoints
    backends: tuple[str, ...] = JUDGED  # whose registry builds them
    decoders: Mapping[str, str] = field(default_factory=dict)  # backend -> the one decoder model_type it builds
    # backend -> why it cannot serve the family's ms-swift model type, wherever the weights come from
    refused: Mapping[str, str] = field(default_factory=dict)
    # backend -> why its support is not proven yet: refused where the recipe serves the graft it builds
    untested: Mapping[str, str] = field(default_factory=dict)

    def why_not(self, backend: str) -> str:
        return self.refused.get(backend) or self.untested.get(backend) or NO_ARCHITECTURE


class Family:
    # --- how it is chosen
    name: str = ""
    host: str = "template"  # whose decoder architecture hosts the donor's weights (graft.host)
    template_model_types: tuple[str, ...] = ()
    donor_model_types: tuple[str, ...] = ()  # the first stands in where a donor's config.json is not at hand
    # --- the graft
    architecture: str = ""
    projector_out_patterns: tuple[str, ...] = ()
    unhosted: dict[str, str] = {}  # donor tensors it cannot host, explained for the report
    required_biases: tuple[str, ...] = ()
    loss_meaning: str = ""
    keep_template_chat_template: bool = True
    chat_template_file: str = ""  # under swiftplus/graft/templates, written when the template's is not kept
    text_model_class: str | None = None  # transformers class of the text model (None: AutoModel)
    transformers_module: str | None = None  # module defining (and registering) classes transformers lacks
    projector_module: str = ""  # module whose output rows are the image features
    # --- ms-swift
    swift_model_type: str = ""
    swift_template: str = ""
    swift_plugin: str | None = None  # module path under swiftplus/plugins, passed as --external_plugins
    # --- the doctor: the config.json model_types whose parameters this family counts
    sizes: tuple[str, ...] = ()
    decoder_bias: bool | None = None  # q/k/v biases fixed by the decoder (None: the config says)
    qk_norm: bool | None = None  # QK-norm fixed by the decoder (None: the decoder's model_type says)
    # --- the rehearsal: template model_type -> the tiny fixture standing in for it (swiftplus.fixtures)
    fixtures: dict[str, str] = {}
    init_fixture: str | None = None  # a tiny checkpoint of what its ms-swift model type trains (a LoRA's init)
    # --- serving
    serving: Serving = Serving(())

    # --- the graft -------------------------------------------------------------------------------------------
    def layout(self, template_names: list[str]) -> Layout:
        raise NotImplementedError

    def check_pair(self, template_cfg: dict, donor_cfg: dict) -> None:
        """Refuse pairs the target decoder cannot host."""

    def for_donor(self, donor_cfg: dict, donor_tok) -> "Family":
        """The family as it hosts this donor (a family whose chat format and ms-swift types follow the donor
        returns a specialised copy); called before tokens() and swift_info()."""
        return self

    def unused_template(self, template_cfg: dict, donor_cfg: dict) -> dict[str, str]:
        """Template vision/projector tensors the grafted model no longer uses: regex -> why."""
        return {}

    def target_name(self, template_name: str) -> str:
        """Name of a kept template tensor in the grafted checkpoint."""
        return template_name

    def new_tensors(self, template_cfg: dict, donor_cfg: dict) -> list[tuple[str, tuple[int, ...], str]]:
        """Tensors neither model has, initialised fresh: (name, shape, note)."""
        return []

    def processor_files(self, template_dir: Path, template_cfg: dict, new_cfg: dict) -> dict[str, dict] | None:
        """The graft's processor JSON files (file name -> content); None copies the template's own."""
        return None

    def serving_check(self, names: list[str], new_cfg: dict) -> dict | None:
        """A check of the written tensor names against a serving engine's loader (None: none to run)."""
        return None

    def tokens(self, template_cfg: dict, template_tok, donor_tok) -> TokenPlan:
        raise NotImplementedError

    def rewrite_config(self, template_cfg: dict, donor_cfg: dict, tokens: TokenPlan,
                       pad_token_id: int | None) -> dict:
        raise NotImplementedError

    def text_model_prefix(self, layout: Layout) -> str:
        """Prefix of the text model's own state dict inside the checkpoint (for the proof)."""
        return layout.text_prefix

    def transformers_class(self, name: str):
        """The transformers model class `name`, from transformers or this family's own module."""
        import importlib

        import transformers
        if self.transformers_module:
            module = importlib.import_module(self.transformers_module)
            if hasattr(module, name):
                return getattr(module, name)
        return getattr(transformers, name)

    # --- ms-swift --------------------------------------------------------------------------------------------
    def plugin_path(self) -> Path | None:
        if not self.swift_plugin:
            return None
        return PLUGINS_DIR / self.swift_plugin

    def swift_info(self) -> dict:
        plugin = self.plugin_path()
        return {"family": self.name, "architecture": self.architecture,
                "swift_model_type": self.swift_model_type, "swift_template": self.swift_template,
                "swift_external_plugins": [str(plugin)] if plugin else []}

    def swift_types(self) -> tuple[str, ...]:
        """Every ms-swift model type its checkpoints are trained and served as."""
        return (self.swift_model_type,) if self.swift_model_type else ()

    def donor_model_type(self, swift_type: str | None) -> str | None:
        """The donor's model_type when only the ms-swift model type is known (None: it does not say)."""
        return self.donor_model_types[0] if self.donor_model_types else None

    # --- the doctor's counts (pure) --------------------------------------------------------------------------
    def vision_params(self, cfg: dict) -> int:
        """The vision tower without its projector."""
        raise NotImplementedError

    def aligner_params(self, cfg: dict, out: int) -> int:
        """The projector from vision features to `out`, the decoder's hidden size."""
        raise NotImplementedError

    def llm_params(self, cfg: dict) -> int:
        return decoder_params(cfg, bias=self.decoder_bias, qk_norm=self.qk_norm)

    def params(self, cfg: dict) -> Params:
        return Params(self.vision_params(cfg), self.aligner_params(cfg, text_config(cfg)["hidden_size"]),
                      self.llm_params(cfg))

    def vision_dims(self, cfg: dict) -> tuple[int, int, int]:
        """(hidden size, layers, patches per image token) of the vision tower."""
        raise NotImplementedError

    def image_patches(self, cfg: dict) -> int:
        """Patches every image becomes where the tower's resolution is fixed; 0 where the image's size sets them."""
        return 0

    def sized_config(self, template_cfg: dict, donor_cfg: dict) -> dict:
        """The grafted config.json as far as the counts read it: the one rewrite_config writes (token ids and
        pad, which no count reads, left out)."""
        return self.rewrite_config(template_cfg, donor_cfg, TokenPlan({}), None)


def qwen_vision_tokens(template_cfg: dict, template_tok, donor_tok) -> TokenPlan:
    """Qwen-VL templates keep their vision token ids; the donor's tokenizer must carry the same tokens there."""
    ids = {k: template_cfg[k] for k in VISION_TOKEN_KEYS if isinstance(template_cfg.get(k), int)}
    required = {}
    for key, tid in ids.items():
        content = template_tok.id_to_token(tid) if template_tok else None
        if content is None:
            content = QWEN_VISION_TOKENS.get(key)
        if content is None:
            raise UserError(f"template: {key}={tid} is not a token of the template's tokenizer.")
        required[content] = tid
    return TokenPlan(ids, required)


QWEN_VISION_TOKENS = {"vision_start_token_id": "<|vision_start|>", "vision_end_token_id": "<|vision_end|>",
                      "vision_token_id": "<|vision_pad|>", "image_token_id": "<|image_pad|>",
                      "video_token_id": "<|video_pad|>"}
