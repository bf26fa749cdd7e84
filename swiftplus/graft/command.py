"""The graft's plan: template + donor + options -> everything the graft will write, decided before a byte is.

    plan_graft(template_dir, donor_dir, GraftOptions(...)) -> GraftPlan

It reads configs, tokenizers and safetensors headers (never tensor data, never torch) and writes nothing:
the family bound to the donor, the token plan, the rewritten config / generation config / processor
files, the weight plan table, where each output tensor's bytes come from, and the fingerprint that says
whether an existing output already is this graft. Every refusal happens here. run.py executes exactly
this plan; `reads()` is what a fetch plan needs (per source file, the byte ranges the graft copies).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from swiftplus.core.configs import optional_json, read_config
from swiftplus.core.errors import UserError
from swiftplus.graft.config import donor_text_params, rewrite_generation_config
from swiftplus.graft.families import family_for
from swiftplus.graft.fresh import crop_bytes, fresh_producer
from swiftplus.graft.safetensors_io import OutTensor, TensorInfo, scan_checkpoint
from swiftplus.graft.tokenizer import TokenizerInfo, check_tokens, pad_token_id, read_tokenizer
from swiftplus.graft.weights import WeightPlan, check_plan, plan_weights

if TYPE_CHECKING:
    from swiftplus.graft.families import Family, Layout, TokenPlan

FORMAT_VERSION = 1


@dataclass(frozen=True)
class GraftOptions:
    host: str = "template"  # whose decoder carries the donor's weights (families/__init__.py)
    family: str | None = None  # by name; default: the one that takes the template with that host
    merger_init: str = "random"
    allow_dropped: tuple[str, ...] = ()
    seed: int = 0
    proof: bool = True
    proof_layers: int | None = None
    max_shard_bytes: int = 5 << 30

    def recorded(self, family: str) -> dict:
        """The options as the fingerprint and the completion marker record them."""
        return {"format": FORMAT_VERSION, "family": family, "merger_init": self.merger_init,
                "allow_dropped": sorted(self.allow_dropped), "seed": self.seed, "proof": self.proof,
                "proof_layers": self.proof_layers}


@dataclass(frozen=True)
class Checkpoint:
    """A model directory as the graft reads it: configs at once, headers when first asked. (Tokenizers are read
    by the plan and not kept: a 150k-token vocabulary is 20 MB the proofs would carry.)"""
    dir: Path
    what: str  # template / donor
    config: dict
    generation: dict | None

    @classmethod
    def read(cls, model_dir: Path, what: str) -> "Checkpoint":
        return cls(model_dir, what, read_config(model_dir, f"graft.{what}"),
                   optional_json(model_dir / "generation_config.json", f"graft.{what}"))

    @cached_property
    def tensors(self) -> dict[str, TensorInfo]:
        return scan_checkpoint(self.dir)


@dataclass(frozen=True)
class SourceRead:
    """One byte range of a source file that the graft copies (a fetch plan fetches exactly these)."""
    tensor: str
    start: int
    end: int


@dataclass(frozen=True, eq=False)
class GraftPlan:
    template: Checkpoint
    donor: Checkpoint
    options: GraftOptions
    family: "Family"  # bound to the donor (Family.for_donor)
    layout: "Layout"
    tokens: "TokenPlan"
    config: dict
    generation: dict
    processor: dict[str, dict] | None  # file name -> content; None: the template's own files are copied
    weights: WeightPlan
    fingerprint: str
    swift: dict = field(default_factory=dict)  # swift_model_type, swift_template, swift_external_plugins

    def marker(self) -> dict:
        """The completion marker of an output of this plan (written last, just before the rename)."""
        return {**self.swift, "fingerprint": self.fingerprint, "complete": True, "template": str(self.template.dir),
                "donor": str(self.donor.dir), "options": self.options.recorded(self.family.name)}

    def made(self, marker: dict | None) -> bool:
        """Whether an existing output's marker says it is a complete output of this plan (then: nothing to do)."""
        return bool(marker and marker.get("fingerprint") == self.fingerprint and marker.get("complete"))

    def _source(self, row) -> TensorInfo | None:
        """The stored tensor a plan row reads: a copy's source, a crop-copy's template tensor, else None."""
        if row.source == "donor":
            return self.donor.tensors[row.source_name]
        return self.template.tensors[row.source_name] if row.source in ("template", "fresh") and row.source_name \
            else None

    def output_tensors(self) -> list[OutTensor]:
        """Every output tensor with where its bytes come from, ordered so each source file reads front to back
        (copies run at sequential-read speed)."""
        cfg = self.config
        std = (cfg.get("vision_config") or {}).get("initializer_range") or cfg.get("initializer_range") or 0.02
        tensors = []
        for r in self.weights.rows:
            if r.source in ("template", "donor"):
                tensors.append(OutTensor(r.target, r.dtype, r.shape, copy_from=self._source(r)))
            elif r.source == "zero":
                tensors.append(OutTensor(r.target, r.dtype, r.shape, zeros=True))
            else:
                tensors.append(OutTensor(r.target, r.dtype, r.shape, produce=fresh_producer(
                    r.target, r.shape, r.dtype, std=std, seed=self.options.seed, crop_from=self._source(r))))
        tensors.sort(key=lambda t: (str(t.copy_from.file), t.copy_from.start) if t.copy_from else ("~", 0))
        return tensors

    def reads(self) -> dict[Path, list[SourceRead]]:
        """Per source safetensors file, the byte ranges the graft copies out of it, in file order (besides its
        header): the template's kept tensors, the donor's hosted ones, the kept rows of a crop-copy."""
        out: dict[Path, list[SourceRead]] = {}
        for r in self.weights.rows:
            info = self._source(r)
            if info is not None:
                end = info.end if r.source != "fresh" else info.start + crop_bytes(r.shape, info)
                out.setdefault(info.file, []).append(SourceRead(info.name, info.start, end))
        return {f: sorted(rs, key=lambda x: x.start) for f, rs in sorted(out.items())}

    def summary(self) -> str:
        """What the graft will do, in a few lines (swiftplus graft --dry-run)."""
        counts = {s: len(self.weights.names(s)) for s in ("template", "donor", "zero", "fresh")}
        lines = [f"graft plan: family {self.family.name} ({self.layout.name} layout); {len(self.weights.rows)} "
                 f"target tensors: {counts['template']} from the template, {counts['donor']} from the donor, "
                 f"{counts['zero']} zero, {counts['fresh']} fresh; {len(self.weights.dropped)} donor tensors dropped"]
        reads = self.reads()
        for ckpt in (self.template, self.donor):
            files = {f: rs for f, rs in reads.items() if f.parent == ckpt.dir}
            used = sum(r.end - r.start for rs in files.values() for r in rs)
            total = sum(i.nbytes for i in ckpt.tensors.values())
            lines.append(f"  reads {used / 1e9:.2f} of {total / 1e9:.2f} GB of the {ckpt.what}'s weights "
                         f"({len(files)} file(s))")
        return "\n".join(lines)


def plan_graft(template_dir, donor_dir, options: GraftOptions = GraftOptions()) -> GraftPlan:
    """The whole plan, or the first UserError that stops the graft (see module doc)."""
    template_dir, donor_dir = Path(template_dir), Path(donor_dir)
    for what, d in (("template", template_dir), ("donor", donor_dir)):  # both named before either is read
        if not d.is_dir():
            raise UserError(f"{what} model directory {d} does not exist.")
    template, donor = Checkpoint.read(template_dir, "template"), Checkpoint.read(donor_dir, "donor")
    family, donor_tok = _family(template, donor, options)
    tokens = _tokens(family, template, donor, donor_tok)
    pad = pad_token_id(donor.dir, donor_tok, donor.config, donor.generation)
    config = family.rewrite_config(template.config, donor.config, tokens, pad)
    processor = family.processor_files(template.dir, template.config, config)
    generation = rewrite_generation_config(template.generation, donor.generation, donor.config, tokens.ids)
    layout = family.layout(list(template.tensors))
    weights = _weights(family, layout, template, donor, options)
    tensors = {**template.tensors, **{"donor:" + k: v for k, v in donor.tensors.items()}}
    return GraftPlan(template, donor, options, family, layout, tokens, config, generation, processor, weights,
                     fingerprint(template.dir, donor.dir, options.recorded(family.name), tensors),
                     family.swift_info())


def _family(template: Checkpoint, donor: Checkpoint, options: GraftOptions) -> tuple["Family", TokenizerInfo]:
    """The family that takes this template with the asked host, refusing a pair its decoder cannot host,
    bound to the donor's config and tokenizer (returned with it)."""
    family = family_for(template.config, host=options.host, name=options.family)
    family.check_pair(template.config, donor.config)
    donor_text_params(donor.config)  # refuses a donor config without the text-model numbers
    donor_tok = read_tokenizer(donor.dir)
    if donor_tok is None:
        raise UserError(f"{donor.dir}: no tokenizer.json; the graft uses the donor's tokenizer.")
    return family.for_donor(donor.config, donor_tok), donor_tok


def _tokens(family: "Family", template: Checkpoint, donor: Checkpoint, donor_tok: TokenizerInfo) -> "TokenPlan":
    """The vision tokens, carried by the donor's tokenizer at the template's ids, inside its embedding."""
    params = donor_text_params(donor.config)
    tokens = family.tokens(template.config, read_tokenizer(template.dir), donor_tok)
    check_tokens(donor_tok, tokens.required, tokens.ids, params["vocab_size"])
    embed = donor.tensors.get("model.embed_tokens.weight")
    if embed is None or embed.shape[0] != params["vocab_size"] or embed.shape[1] != params["hidden_size"]:
        raise UserError(f"{donor.dir}: model.embed_tokens.weight is {embed and list(embed.shape)}, config says "
                        f"[{params['vocab_size']}, {params['hidden_size']}]; weights and config disagree.")
    return tokens


def _weights(family: "Family", layout: "Layout", template: Checkpoint, donor: Checkpoint,
             options: GraftOptions) -> WeightPlan:
    plan = plan_weights(family, layout, template.tensors, donor.tensors,
                        donor_hidden=donor_text_params(donor.config)["hidden_size"],
                        merger_init=options.merger_init, allow_dropped=tuple(options.allow_dropped),
                        unused_template=family.unused_template(template.config, donor.config),
                        new_tensors=family.new_tensors(template.config, donor.config),
                        new_dtype=donor.tensors["model.embed_tokens.weight"].dtype)
    check_plan(plan)
    return plan


def fingerprint(template_dir: Path, donor_dir: Path, options: dict, tensors: dict) -> str:
    """What an output's marker records of its inputs: options, small files' bytes, weights' sizes and times."""
    h = hashlib.sha256()
    h.update(json.dumps(options, sort_keys=True).encode())
    for d in (template_dir, donor_dir):
        for p in sorted(d.iterdir()):
            if p.is_file() and (p.suffix in (".json", ".jinja", ".txt", ".model") or p.name.endswith(".safetensors")):
                st = p.stat()
                h.update(f"{p.name}:{st.st_size}".encode())
                if p.name.endswith(".safetensors"):
                    # weights are too big to hash on every run; a re-trained or re-downloaded shard of the same
                    # shapes differs only in its bytes, and its write time says that it changed
                    h.update(f":{st.st_mtime_ns}".encode())
                else:
                    h.update(p.read_bytes())
    for name in sorted(tensors):
        i = tensors[name]
        h.update(f"{name}:{i.dtype}:{i.shape}:{i.start}".encode())
    return h.hexdigest()
