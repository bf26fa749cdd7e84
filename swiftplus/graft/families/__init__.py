"""Template families: what differs between VLM architectures, one module each.

A family says how a template's tensors are laid out (hub and transformers-5 layouts), which projector
tensors are sized by the text width, which donor tensors its decoder cannot host (and what that loses),
which it hosts that the donor lacks (zero-initialised), how its config is rewritten, and which ms-swift
model type / template / plugin trains and serves the result. Adding a family is adding one module and
one line in FAMILIES. A template may have more than one family, one per `host` (graft.host): `template` keeps
the template's own decoder, `donor` keeps the donor's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from swiftplus.core.errors import UserError
from swiftplus.graft.config import VISION_TOKEN_KEYS
from swiftplus.plugins import PLUGINS_DIR


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


class Family:
    name: str = ""
    host: str = "template"  # whose decoder architecture hosts the donor's weights (graft.host)
    template_model_types: tuple[str, ...] = ()
    architecture: str = ""
    swift_model_type: str = ""
    swift_template: str = ""
    swift_plugin: str | None = None  # module path under swiftplus/plugins, passed as --external_plugins
    projector_out_patterns: tuple[str, ...] = ()
    unhosted: dict[str, str] = {}
    required_biases: tuple[str, ...] = ()
    # donor tensors it cannot host, explained for the report
    loss_meaning: str = ""
    keep_template_chat_template: bool = True
    chat_template_file: str = ""  # under swiftplus/graft/templates, written when the template's is not kept
    text_model_class: str | None = None  # transformers class of the text model (None: AutoModel)
    transformers_module: str | None = None  # module defining (and registering) classes transformers lacks
    projector_module: str = ""  # module whose output rows are the image features

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

    def plugin_path(self) -> Path | None:
        if not self.swift_plugin:
            return None
        return PLUGINS_DIR / self.swift_plugin

    def swift_info(self) -> dict:
        plugin = self.plugin_path()
        return {"family": self.name, "architecture": self.architecture,
                "swift_model_type": self.swift_model_type, "swift_template": self.swift_template,
                "swift_external_plugins": [str(plugin)] if plugin else []}


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


def _families() -> list[Family]:
    from swiftplus.graft.families.qwen2_5_vl import Qwen2_5_VL
    from swiftplus.graft.families.qwen2_5_vl_qwen3 import Qwen2_5_VL_Qwen3
    from swiftplus.graft.families.qwen3_vl import Qwen3_VL
    from swiftplus.graft.families.smolvlm import SmolVLM
    from swiftplus.graft.families.llava import Llava
    # the first that takes a template's model_type (with the asked host) wins when a family is not named
    return [Qwen2_5_VL(), Qwen2_5_VL_Qwen3(), Qwen3_VL(), SmolVLM(), Llava()]


def family_for(template_cfg: dict, where: str = "template", host: str = "template", name: str | None = None) -> Family:
    """The family that grafts into this template: `name` if given (it must take the template), else the first
    family that takes the template's model_type with the asked host."""
    model_type = template_cfg.get("model_type")
    if name is not None:
        fam = family_by_name(name)
        if model_type not in fam.template_model_types:
            raise UserError(f"{where}: config.json model_type {model_type!r} is not a template the {name} family "
                            f"takes (it takes: {', '.join(fam.template_model_types)}).")
        if fam.host != host:
            raise UserError(f"graft.family {name} hosts the donor in the {fam.host}'s decoder, but graft.host is "
                            f"{host!r}; drop one of the two")
        return fam
    matching = [fam for fam in _families() if model_type in fam.template_model_types]
    for fam in matching:
        if fam.host == host:
            return fam
    if matching:
        have = " or ".join(sorted({f.host for f in matching}))
        raise UserError(f"graft.host is {host!r}, but a {model_type} template can only be grafted with host: {have}. "
                        "host: donor exists for templates whose own decoder cannot carry the donor whole (such as "
                        "Qwen2.5-VL's, which has no QK-norm); the others already keep the donor exactly.")
    known = ", ".join(dict.fromkeys(t for f in _families() for t in f.template_model_types))
    raise UserError(f"{where}: config.json model_type {model_type!r} is not a template family swiftplus can "
                    f"graft into (known: {known}). Add a module under swiftplus/graft/families/.")


def family_by_name(name: str) -> Family:
    for fam in _families():
        if fam.name == name:
            return fam
    raise UserError(f"unknown graft family {name!r}; known: {', '.join(f.name for f in _families())}")
