"""Which model each stage trains, merges or serves, sized from config.json along the stage chain (pure: the
configs arrive through `lookup`, which probe.py answers from local checkpoints, the hub caches, the fixtures
or known_models)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

from swiftplus.core import runs, stages
from swiftplus.core.errors import UserError
from swiftplus.core.lineage import init_source
from swiftplus.core.stages import EXPORT, GRAFT, LORA
from swiftplus.doctor import estimate as est
from swiftplus.graft.families import Family, family_for
from swiftplus.recipe.schema import Recipe
from swiftplus.serve import command as serve_command


@dataclass(frozen=True)
class ModelInfo:
    """What the probe found about one model reference."""

    ref: str
    config: dict | None
    source: str  # local | hub cache | fixture | known table | unknown
    download: Path | None = None  # where a hub download would land; None when nothing is downloaded


@dataclass(frozen=True)
class Model:
    params: est.Params
    text: dict  # the decoder's config
    dtype: int
    what: str  # where the sizes came from, for the report
    vision: tuple[int, int, int] = (0, 0, 0)  # est.vision_dims of the tower
    image_patches: int = 0  # patches of every image in a fixed-resolution tower (est.image_patches); else 0

    def describe(self, trainable: int | None = None) -> str:
        part = f", {est.count(trainable)} trainable" if trainable is not None else ""
        return f"{est.count(self.params.total)} parameters{part} ({self.what})"


Lookup = Callable[[Union[str, Path]], ModelInfo]  # a Path is looked for on disk only


def model_of(info: ModelInfo) -> Model | None:
    if info.config is None:
        return None
    cfg = info.config
    return _sized(lambda: Model(est.model_params(cfg), est.text_config(cfg), est.dtype_bytes(cfg.get("torch_dtype")),
                                f"{info.ref}, {info.source}", est.vision_dims(cfg), est.image_patches(cfg)))


def _sized(make: Callable[[], Model]) -> Model | None:
    """None for a config.json the estimator cannot read (a family it does not know, a partial file, a pair the
    family's rewrite refuses)."""
    try:
        return make()
    except (KeyError, TypeError, ValueError, ZeroDivisionError, UserError):
        return None


def _grafted(template: dict, donor: dict, family: Family, what: str) -> Model:
    written = est.grafted_config(template, donor, family)
    return Model(est.model_params(written), est.text_config(donor), est.dtype_bytes(donor.get("torch_dtype")), what,
                 est.vision_dims(written), est.image_patches(written))


def model_for(recipe: Recipe, stage: str, lookup: Lookup) -> Model | None:
    """The model a stage trains, merges or serves, sized from configs along the stage chain."""
    if stage == GRAFT:
        built = lookup(runs.stage_dir(recipe, GRAFT))
        if built.config is not None:
            return model_of(built)
        template, donor = lookup(recipe.graft.template).config, lookup(recipe.graft.donor).config
        if template is None or donor is None:
            return None
        try:  # the family graft/ will pick: graft.family, else the first that takes the template with graft.host
            family = family_for(template, host=recipe.graft.host, name=recipe.graft.family)
        except UserError:
            return None
        what = f"graft of {recipe.graft.template} + {recipe.graft.donor}"
        return _sized(lambda: _grafted(template, donor, family, what))
    if stage in stages.TRAIN:
        src = init_source(recipe, stage)
        return model_of(lookup(src.explicit)) if src.explicit else model_for(recipe, src.stage, lookup)
    if stage == EXPORT:
        return model_for(recipe, LORA, lookup)
    return served_size(recipe, lookup)


def served_size(recipe: Recipe, lookup: Lookup, source: str | None = None) -> Model | None:
    """The size of what deploy serves (serve/command.deploy_source: --from, else deploy.from, else the last stage
    the recipe builds), sized along the stage chain."""
    source = serve_command.deploy_source(recipe, source)
    if source in (EXPORT, LORA):  # merged or not, the served weights are the LoRA base's size
        return model_for(recipe, LORA, lookup)
    if source in stages.SOURCES:
        return model_for(recipe, source, lookup)
    return model_of(lookup(source))
