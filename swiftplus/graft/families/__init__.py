"""Model families: what differs between VLM architectures, one module each, one line each in FAMILIES.

A family (family.py) says how a template's tensors are laid out (hub and transformers-5 layouts), which projector
tensors are sized by the text width, which donor tensors its decoder cannot host (and what that loses), which it
hosts that the donor lacks (zero-initialised), how its config is rewritten, which ms-swift model type / template /
plugin trains and serves the result, how its checkpoints' parameters are counted, which tiny fixtures stand in
for its models in a rehearsal, and which backends can serve it. The doctor, the rehearsal, serving and validation
ask the family; adding one is adding its module and a line below. A template may have more than one family, one
per `host` (graft.host): `template` keeps the template's own decoder, `donor` keeps the donor's.
"""
from __future__ import annotations

from swiftplus.core.errors import UserError
from swiftplus.core.families import FAMILIES, by_name, by_swift_type, registered  # noqa: F401 (the registry)
from swiftplus.graft.families.family import (  # noqa: F401 (the family's declarations, re-exported)
    JUDGED,
    QWEN_VISION_TOKENS,
    Family,
    Layout,
    Serving,
    TokenPlan,
    qwen_vision_tokens,
)
from swiftplus.graft.families.llava import Llava
from swiftplus.graft.families.qwen2_5_vl import Qwen2_5_VL
from swiftplus.graft.families.qwen2_5_vl_qwen3 import Qwen2_5_VL_Qwen3
from swiftplus.graft.families.qwen2_vl import Qwen2_VL
from swiftplus.graft.families.qwen3_vl import Qwen3_VL
from swiftplus.graft.families.smolvlm import SmolVLM

# the first that takes a template's model_type (with the asked host) wins when a recipe names no family
FAMILIES += [Qwen2_5_VL(), Qwen2_5_VL_Qwen3(), Qwen3_VL(), SmolVLM(), Llava(), Qwen2_VL()]


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
    matching = [fam for fam in FAMILIES if model_type in fam.template_model_types]
    for fam in matching:
        if fam.host == host:
            return fam
    if matching:
        have = " or ".join(sorted({f.host for f in matching}))
        raise UserError(f"graft.host is {host!r}, but a {model_type} template can only be grafted with host: {have}. "
                        "host: donor exists for templates whose own decoder cannot carry the donor whole (such as "
                        "Qwen2.5-VL's, which has no QK-norm); the others already keep the donor exactly.")
    known = ", ".join(dict.fromkeys(t for f in FAMILIES for t in f.template_model_types))
    raise UserError(f"{where}: config.json model_type {model_type!r} is not a template family swiftplus can "
                    f"graft into (known: {known}). Add a module under swiftplus/graft/families/.")


def family_by_name(name: str) -> Family:
    fam = by_name(name)
    if fam is None:
        raise UserError(f"unknown graft family {name!r}; known: {', '.join(f.name for f in grafting())}")
    return fam


def grafting() -> list[Family]:
    """The families that graft (the others are only trained and served)."""
    return [f for f in FAMILIES if f.template_model_types]


def sizing(cfg: dict) -> Family | None:
    """The family that counts a config.json's parameters (by its model_type), or None."""
    return next((f for f in FAMILIES if cfg.get("model_type") in f.sizes), None)


def serving(architecture: str) -> Family | None:
    """The family whose checkpoints carry this config.json architecture, or None."""
    return next((f for f in FAMILIES if architecture in f.serving.architectures), None)
