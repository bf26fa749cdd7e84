"""Recipe -> the rehearsal recipe and every substitution it makes (pure: facts about the machine come in).

A rehearsal runs the recipe's own pipeline with the recipe's own settings on tiny models of its own
families, for a few steps. What has to change is a Substitution, printed before anything runs and kept in
the report: here the `scale` ones (tiny models, a sample of the data, a few steps, 5 questions) and the
`missing` ones (data not reachable here, with a stand-in so the rest still runs); cpu.py adds the CPU
equivalents on a machine without GPUs.
"""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Callable, Mapping

from swiftplus.core import runs, stages
from swiftplus.core.errors import UserError
from swiftplus.doctor.known_models import CONFIGS as KNOWN_CONFIGS
from swiftplus.graft.families import FAMILIES, by_swift_type, family_for
from swiftplus.graft.recipe import FIXTURE
from swiftplus.recipe.schema import BenchmarkEntry, Recipe
from swiftplus.rehearse.cpu import cpu_equivalents
from swiftplus.rehearse.rehearsal import (
    MISSING,
    SCALE,
    Machine,
    Rehearsal,
    Sample,
    Substitution,
    Synthetic,
)

SAMPLE_ROWS = 16  # the first rows of each local dataset the rehearsal trains on
STEPS = 2  # optimizer steps per training stage
EVAL_QUESTIONS = 5

# The tiny fixtures (swiftplus.fixtures) that stand in for the recipe's models, each the same architecture,
# config layout, processor, chat template and special-token ids as the hub model it mirrors. A template's is its
# graft family's (graft.families: the family the graft picks for the real template, by its config.json
# model_type, graft.host and graft.family), so the graft picks the same family (and ms-swift model type) for the
# fixture as for the real model; a stage's init is the fixture of the family its ms-swift model type names.
# donor model_type -> {ties its embeddings: fixture}; the one Llama 3 fixture ties them (as Llama-3.2-1B)
DONOR_FIXTURES = {"qwen3": {False: "qwen3", True: "qwen3-tied"}, "llama": {False: "llama3", True: "llama3"}}
DEFAULT_DONOR = "qwen3"  # where neither the donor's config nor the recipe's ms-swift model type says
# Qwen3 sizes whose config ties the embeddings (lm_head = embed_tokens); the larger ones do not.
TIED_QWEN3 = re.compile(r"qwen3-(0\.6|1\.7|4)b", re.I)
Config = Callable[[str], "dict | None"]  # a model reference -> its config.json, None when not at hand


def known_config(ref: str) -> dict | None:
    """The doctor's table of the shipped recipes' hub models (the shell also reads local and downloaded ones)."""
    return KNOWN_CONFIGS.get(ref)


def _tied(cfg: dict) -> bool:
    return bool(cfg.get("tie_word_embeddings", (cfg.get("text_config") or {}).get("tie_word_embeddings", False)))


def _with_fixtures() -> str:
    return ", ".join(t for f in FAMILIES for t in f.fixtures)


def template_fixture(ref: str, swift_type: str | None, config: Config, recipe: Recipe) -> tuple[str, str]:
    """(fixture, model_type) standing in for graft template `ref`: the fixture of the family the graft picks."""
    cfg, name = config(ref), recipe.name
    if cfg:
        try:
            family = family_for(cfg, f"graft.template {ref}", host=recipe.graft.host, name=recipe.graft.family)
        except UserError as e:
            raise UserError(f"cannot rehearse {name}: {e}") from None
        model_type = cfg.get("model_type")
    else:  # the recipe's ms-swift model type names the family; its fixtures, the template, if it has one
        family = by_swift_type(swift_type)
        if family is None or len(family.fixtures) != 1:
            raise UserError(f"cannot rehearse {name}: graft.template {ref}: its config.json is not at hand (not a "
                            f"local path, not downloaded, not in swiftplus.doctor.known_models), and ms-swift "
                            f"model_type {swift_type!r} takes more than one kind of template; point graft.template at "
                            f"a local copy (or download it), then rehearse again")
        (model_type,) = family.fixtures
    if model_type not in family.fixtures:
        raise UserError(f"cannot rehearse {name}: no tiny model of template model_type {model_type!r} (graft.template "
                        f"{ref}; the {family.name} family's fixtures stand in for: "
                        f"{', '.join(family.fixtures) or 'none'}; all families': {_with_fixtures()})")
    return family.fixtures[model_type], model_type


def donor_fixture(ref: str, swift_type: str | None, config: Config, recipe_name: str) -> str:
    """The donor fixture of the donor's model_type with the same embedding tying."""
    cfg = config(ref)
    family = by_swift_type(swift_type)
    model_type = cfg.get("model_type") if cfg else (family and family.donor_model_type(swift_type)) or DEFAULT_DONOR
    if model_type not in DONOR_FIXTURES:
        raise UserError(f"cannot rehearse {recipe_name}: no tiny donor of model_type {model_type!r} (graft.donor "
                        f"{ref}; swiftplus.fixtures has {', '.join(DONOR_FIXTURES)})")
    return DONOR_FIXTURES[model_type][_tied(cfg) if cfg else bool(TIED_QWEN3.search(ref))]


def init_fixture(swift_type: str | None, recipe_name: str) -> str:
    family = by_swift_type(swift_type)
    if family is None or family.init_fixture is None:
        have = ", ".join(t for f in FAMILIES if f.init_fixture for t in f.swift_types())
        raise UserError(f"cannot rehearse {recipe_name}: no tiny model of ms-swift model_type {swift_type!r} "
                        f"(swiftplus.fixtures has {have}); rehearse a recipe of one of them")
    return family.init_fixture


class _Builder:
    """Collects the rewrites of one rehearsal; each method handles one part of the recipe."""

    def __init__(self, recipe: Recipe, data: dict, machine: Machine, environ: Mapping[str, str], work: Path,
                 fixtures_root: Path, exists: Callable[[str], bool], config: Config):
        self.recipe, self.machine, self.work, self.exists, self.config = recipe, machine, Path(work), exists, config
        self.fixtures_root = Path(fixtures_root)
        self.out = Rehearsal(copy.deepcopy(data), dict(environ), self.work)
        self.out.data.pop("base", None)  # already merged in
        self.out.data["run_dir"] = str(self.work)
        self.model_type = self._flag("model_type")
        # source -> (the entry replacing it, (kind, now, why)): one sample or stand-in per file, however many
        # stages train on it
        self.stood_in: dict[str, tuple[dict, tuple[str, str, str]]] = {}

    def sub(self, kind: str, where: str, was, now, why: str) -> None:
        self.out.substitutions.append(Substitution(kind, where, str(was), str(now), why))

    def _flag(self, name: str):
        for stage in stages.TRAIN:
            section = getattr(self.recipe, stage)
            if section is not None and name in section.flags:
                return section.flags[name]
        return self.recipe.swift.get(name)

    def _in_real_run(self, path: str) -> Path | None:
        """`path` rebased into the rehearsal's run directory when it lies in the real run's."""
        rel = runs.within_run(self.recipe, path)
        return None if rel is None else self.work / rel

    # --- models --------------------------------------------------------------------------------------------
    def models(self) -> None:
        d, name = self.out.data, self.recipe.name
        g = d.get(stages.GRAFT)
        if g:
            if not str(g["template"]).startswith(FIXTURE):
                fixture, model_type = template_fixture(str(g["template"]), self.model_type, self.config, self.recipe)
                self.sub(SCALE, "graft.template", g["template"], FIXTURE + fixture, f"a tiny {model_type} model: "
                         "same architecture, processor, template and token ids, so the graft takes the same family")
                g["template"] = FIXTURE + fixture
            if not str(g["donor"]).startswith(FIXTURE):
                donor = donor_fixture(str(g["donor"]), self.model_type, self.config, name)
                self.sub(SCALE, "graft.donor", g["donor"], FIXTURE + donor, "a tiny decoder of the same model_type, "
                         "embedding tying and special-token ids")
                g["donor"] = FIXTURE + donor
            if g.get("output"):
                self.sub(SCALE, "graft.output", g["output"], self.work / stages.GRAFT,
                         "a rehearsal never writes into the real run's directories")
                g.pop("output")
        for stage in stages.TRAIN:
            section = d.get(stage)
            init = section.get("init") if section else None
            if init is None or init in stages.INIT_KEYWORDS:
                continue
            fixture = init_fixture(self.model_type, name)
            path = self.fixtures_root / fixture
            self.sub(SCALE, f"{stage}.init", init, path, f"a tiny {self.model_type} model of the same family")
            section["init"] = str(path)
            if (fixture, str(path)) not in self.out.fixtures:
                self.out.fixtures.append((fixture, str(path)))
        deploy = d.get(stages.DEPLOY)
        if self.recipe.deploy is not None:
            where = f"{self.recipe.deploy.host}:{self.recipe.deploy.port}"
            self.sub(SCALE, "deploy.port", where, "a free loopback port", "checked free as `swiftplus deploy` "
                     "checks it, but left untouched: a server that just stopped holds its port for a minute")
        if deploy and deploy.get("from") not in (None, "auto", *stages.SOURCES):
            self.sub(SCALE, "deploy.from", deploy["from"], "auto", "the rehearsal serves the checkpoint it trained")
            deploy.pop("from")

    # --- data ----------------------------------------------------------------------------------------------
    def synthetic_task(self) -> None:
        syn = self.out.data.get("synthetic")
        if not syn:
            return
        for key, rows in (("train", SAMPLE_ROWS), ("evaluate", EVAL_QUESTIONS)):
            was = syn.get(key, "default")
            syn[key] = rows
            self.sub(SCALE, f"synthetic.{key}", was, rows, "a few rows of the recipe's generated task")

    def datasets(self) -> None:
        for stage in stages.TRAIN:
            section = self.out.data.get(stage)
            if not section:
                continue
            for key in ("dataset", "val_dataset"):
                entries = section.get(key)
                if entries is None:
                    continue
                entries = [entries] if isinstance(entries, (str, dict)) else entries
                section[key] = [self._dataset(entry, f"{stage}.{key}[{i}]") for i, entry in enumerate(entries)]

    def _dataset(self, entry, where: str):
        path = entry.get("path") if isinstance(entry, dict) else entry
        # data.prepare's rule (a .json/.jsonl name or an existing path is local), asked through `exists`
        if isinstance(entry, str) and not (entry.endswith((".json", ".jsonl")) or self.exists(entry)):
            return self._hub_dataset(entry, where)
        fmt = entry.get("format", "auto") if isinstance(entry, dict) else "auto"
        rebased = self._in_real_run(path)
        if rebased is not None and self.recipe.synthetic is not None:
            self.sub(SCALE, where, path, rebased, "the recipe's generated task, generated in the rehearsal's run")
            return {**entry, "path": str(rebased)} if isinstance(entry, dict) else str(rebased)
        if path in self.stood_in:
            new, why = self.stood_in[path]
            self.sub(why[0], where, path, *why[1:])
            return new
        n = len(self.stood_in)
        name = Path(path).name
        if self.exists(path):
            dest = self.work / "data" / f"sample-{n}-{name}"
            self.out.samples.append(Sample(path, str(dest), SAMPLE_ROWS))
            root = entry.get("data_root") if isinstance(entry, dict) else None
            # the sample sits elsewhere: relative media resolve where they did, beside the original manifest
            new = {"path": str(dest), "format": fmt, "data_root": root or os.path.dirname(os.path.abspath(path))}
            why = (SCALE, f"its first {SAMPLE_ROWS} rows", "linted and converted as training does")
        else:
            fmt = fmt if fmt != "auto" else "swift"
            dest = self.work / "data" / f"synthetic-{n}-{Path(name).stem}.jsonl"
            self.out.synthetic.append(Synthetic(str(dest), fmt, SAMPLE_ROWS))
            new = {"path": str(dest), "format": fmt}
            why = (MISSING, f"a synthetic {fmt} set ({SAMPLE_ROWS} rows)", "the file does not exist here, so its "
                   "rows are not rehearsed; the stand-in keeps training running")
        self.sub(why[0], where, path, *why[1:])
        self.stood_in[path] = (new, why)
        return new

    def _hub_dataset(self, ref: str, where: str):
        if self.machine.hub_reachable:
            if "#" in ref:
                return ref
            self.sub(SCALE, where, ref, f"{ref}#{SAMPLE_ROWS}", "ms-swift's own sampling of a hub dataset")
            return f"{ref}#{SAMPLE_ROWS}"
        why = (MISSING, f"a synthetic swift set ({SAMPLE_ROWS} rows)", "the hub is not reachable from here, so "
               "this dataset is not rehearsed; the stand-in keeps training running")
        self.sub(why[0], where, ref, *why[1:])
        if ref not in self.stood_in:
            dest = self.work / "data" / f"synthetic-{len(self.stood_in)}-hub.jsonl"
            self.out.synthetic.append(Synthetic(str(dest), "swift", SAMPLE_ROWS))
            self.stood_in[ref] = ({"path": str(dest), "format": "swift"}, why)
        return self.stood_in[ref][0]

    # --- training ------------------------------------------------------------------------------------------
    def steps(self) -> None:
        for stage in stages.TRAIN:
            section = self.out.data.get(stage)
            if not section:
                continue
            was = section.get("max_steps") or (f"unset (num_train_epochs {section['num_train_epochs']})"
                                               if "num_train_epochs" in section else "unset")
            section["max_steps"] = STEPS
            self.sub(SCALE, f"{stage}.max_steps", was, STEPS, "a few steps reach every code path of a stage")

    # --- deploy and eval -----------------------------------------------------------------------------------
    def evaluation(self) -> None:
        ev = self.out.data.get(stages.EVAL)
        if not ev:
            return
        if ev.get("compare"):
            self.sub(SCALE, "eval.compare", ", ".join(ev["compare"]), "the deploy default only",
                     "every checkpoint is served and scored by the same code")
            ev.pop("compare")
        self.sub(SCALE, "eval.limit", ev.get("limit", "unset"), EVAL_QUESTIONS, "a few questions per benchmark")
        ev["limit"] = EVAL_QUESTIONS
        for entry in ev.get("benchmarks") or []:
            if isinstance(entry, dict) and entry.get("limit") is not None:
                entry["limit"] = EVAL_QUESTIONS
        for local in ev.get("local") or []:
            rebased = self._in_real_run(local["path"])
            if rebased is not None and self.recipe.synthetic is not None:
                self.sub(SCALE, f"eval.local {local['name']}", local["path"], rebased,
                         "the recipe's generated task, generated in the rehearsal's run")
                local["path"] = str(rebased)
        names = [b if isinstance(b, str) else BenchmarkEntry.model_validate(b).name for b in ev.get("benchmarks") or []]
        if names and not self.machine.hub_reachable:
            dest = self.work / "data" / "eval-set"
            self.out.synthetic.append(Synthetic(str(dest), "vmcq", EVAL_QUESTIONS))
            ev["benchmarks"] = []
            ev["local"] = [*(ev.get("local") or []), {"name": "rehearsal", "path": str(dest), "kind": "vmcq"}]
            if ev.get("backend") == "vlmevalkit":
                ev["backend"] = "native"
            self.sub(MISSING, "eval.benchmarks", ", ".join(names), f"a synthetic {EVAL_QUESTIONS}-question "
                     "multiple-choice set", "the hub is not reachable from here, so these benchmarks' data is not "
                     "rehearsed; the endpoint is still scored through EvalScope")

    def backend(self) -> None:
        deploy = self.out.data.get(stages.DEPLOY)
        if deploy is not None or self.out.data.get(stages.EVAL) is not None:
            self.out.backend = (deploy or {}).get("infer_backend") or "transformers"


def rehearsal(recipe: Recipe, data: dict, machine: Machine, environ: Mapping[str, str], *, work: Path,
              fixtures_root: Path, exists: Callable[[str], bool] = os.path.exists,
              config: Config = known_config) -> Rehearsal:
    """The rehearsal of `recipe` (its merged mapping `data`) on `machine`, run in `work`. The filesystem is read
    only through `exists` (is a dataset here) and `config` (a model's config.json)."""
    b = _Builder(recipe, data, machine, environ, work, fixtures_root, exists, config)
    b.backend()
    b.models()
    b.synthetic_task()
    b.datasets()
    b.steps()
    b.evaluation()  # before the CPU equivalents: they cap the answers of the eval it settles
    if machine.gpus == 0:
        cpu_equivalents(recipe, b.out, machine.cpus, b.sub)
    return b.out
