"""The graft: template VLM (vision tower + projector + processor) + donor LLM -> a new HF checkpoint.

    graft(template_dir, donor_dir, output_dir) -> GraftResult

Decisions (config rewrite, weight plan, token checks) are pure and run first, so every refusal comes
before a byte is written. Weights are streamed as byte ranges; the output is built in a temporary
sibling directory and renamed into place only when complete and proven.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from swiftplus.core.checkpoints import GRAFT_MARKER
from swiftplus.core.configs import optional_json, read_config
from swiftplus.core.errors import UserError
from swiftplus.core.process import interrupting_signals, process_running
from swiftplus.graft import report as report_mod
from swiftplus.graft.config import donor_text_params, rewrite_generation_config
from swiftplus.graft.families import family_for
from swiftplus.graft.fresh import fresh_producer
from swiftplus.graft.proof import run_proof
from swiftplus.graft.safetensors_io import OutTensor, scan_checkpoint, write_checkpoint
from swiftplus.graft.tokenizer import (
    check_tokens,
    pad_token_id,
    read_tokenizer,
    write_tokenizer_files,
)
from swiftplus.graft.weights import WeightPlan, check_plan, plan_weights

MARKER = GRAFT_MARKER
REPORT = "graft_report.json"
SUMMARY = "graft_summary.txt"
PLAN = "weight_plan.txt"
FORMAT_VERSION = 1


@dataclass
class GraftResult:
    output_dir: Path
    family: str
    plan: "WeightPlan"
    report: dict
    skipped: bool = False  # True: a complete output from the same inputs already existed (no-op)
    swift: dict = field(default_factory=dict)  # swift_model_type, swift_template, swift_external_plugins


def _fingerprint(template_dir: Path, donor_dir: Path, options: dict, tensors: dict) -> str:
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


def _clean_stale_tmp(output_dir: Path) -> None:
    """Remove temp siblings left by grafts that were killed (their process no longer runs)."""
    for p in output_dir.parent.glob(f".{output_dir.name}.tmp-*"):
        try:
            pid = int(p.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if not process_running(pid):
            shutil.rmtree(p, ignore_errors=True)


def graft(template_dir, donor_dir, output_dir, *, host: str = "template", family: str | None = None,
          merger_init: str = "random",
          allow_dropped: tuple[str, ...] | list[str] = (), seed: int = 0, proof: bool = True,
          proof_layers: int | None = None, max_shard_bytes: int = 5 << 30,
          log: Callable[[str], None] = print) -> GraftResult:
    """Graft donor_dir's LLM into template_dir's VLM, writing output_dir atomically (see module doc).

    host: whose decoder architecture carries the donor's weights, the template's or the donor's own
    (families/__init__.py); family: the graft family by name (default: the one that takes the
    template's model_type with that host). The family's name is part of the fingerprint."""
    template_dir, donor_dir, output_dir = Path(template_dir), Path(donor_dir), Path(output_dir)
    for what, d in (("template", template_dir), ("donor", donor_dir)):
        if not d.is_dir():
            raise UserError(f"{what} model directory {d} does not exist.")
    allow_dropped = tuple(allow_dropped)
    template_cfg = read_config(template_dir, "graft.template")
    donor_cfg = read_config(donor_dir, "graft.donor")
    template_gen = optional_json(template_dir / "generation_config.json", "graft.template")
    donor_gen = optional_json(donor_dir / "generation_config.json", "graft.donor")

    family = family_for(template_cfg, host=host, name=family)
    family.check_pair(template_cfg, donor_cfg)
    donor = donor_text_params(donor_cfg)
    template_tensors = scan_checkpoint(template_dir)
    donor_tensors = scan_checkpoint(donor_dir)
    donor_tok = read_tokenizer(donor_dir)
    if donor_tok is None:
        raise UserError(f"{donor_dir}: no tokenizer.json; the graft uses the donor's tokenizer.")
    family = family.for_donor(donor_cfg, donor_tok)
    tokens = family.tokens(template_cfg, read_tokenizer(template_dir), donor_tok)
    check_tokens(donor_tok, tokens.required, tokens.ids, donor["vocab_size"])
    embed = donor_tensors.get("model.embed_tokens.weight")
    if embed is None or embed.shape[0] != donor["vocab_size"] or embed.shape[1] != donor["hidden_size"]:
        raise UserError(f"{donor_dir}: model.embed_tokens.weight is {embed and list(embed.shape)}, config says "
                        f"[{donor['vocab_size']}, {donor['hidden_size']}]; weights and config disagree.")
    pad = pad_token_id(donor_dir, donor_tok, donor_cfg, donor_gen)
    new_cfg = family.rewrite_config(template_cfg, donor_cfg, tokens, pad)
    processor = family.processor_files(template_dir, template_cfg, new_cfg)
    new_gen = rewrite_generation_config(template_gen, donor_gen, donor_cfg, tokens.ids)
    layout = family.layout(list(template_tensors))
    plan = plan_weights(family, layout, template_tensors, donor_tensors, donor_hidden=donor["hidden_size"],
                        merger_init=merger_init, allow_dropped=allow_dropped,
                        unused_template=family.unused_template(template_cfg, donor_cfg),
                        new_tensors=family.new_tensors(template_cfg, donor_cfg), new_dtype=embed.dtype)
    check_plan(plan)

    options = {"format": FORMAT_VERSION, "family": family.name, "merger_init": merger_init,
               "allow_dropped": sorted(allow_dropped), "seed": seed, "proof": proof, "proof_layers": proof_layers}
    fingerprint = _fingerprint(template_dir, donor_dir, options, {**template_tensors, **{
        "donor:" + k: v for k, v in donor_tensors.items()}})
    swift = family.swift_info()
    if output_dir.exists():
        marker = optional_json(output_dir / MARKER, "graft output")
        if marker and marker.get("fingerprint") == fingerprint and marker.get("complete"):
            log(f"graft: {output_dir} is already complete for these inputs; nothing to do.")
            rep = optional_json(output_dir / REPORT, "graft output") or {}
            return GraftResult(output_dir, family.name, plan, rep, skipped=True, swift=swift)
        raise UserError(f"{output_dir} already exists and was not produced by this graft (different inputs or "
                        "options, or not a graft). Remove it or choose another output directory.")

    log(f"graft: family {family.name} ({layout.name} layout); {len(plan.rows)} target tensors")
    log(plan.table(condensed=True))
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_tmp(output_dir)
    tmp = output_dir.parent / f".{output_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    # SIGTERM/SIGHUP unwind like Ctrl-C, so the temporary output is removed however the graft is stopped
    with interrupting_signals():
        tmp.mkdir()
        try:
            _write_output(tmp, family, layout, plan, template_dir, donor_dir, template_tensors, new_cfg, new_gen,
                          processor, tokens, seed=seed, max_shard_bytes=max_shard_bytes)
            (tmp / PLAN).write_text(plan.table() + "\n")
            proof_results = {"serving_names": family.serving_check(list(scan_checkpoint(tmp)), new_cfg)}
            if proof:
                proof_results.update(run_proof(tmp, donor_dir, family, layout, plan, layers=proof_layers, log=log))
            rep = report_mod.build_report(family, layout, plan, template_dir, donor_dir, template_cfg, new_cfg,
                                          proof_results, swift)
            (tmp / REPORT).write_text(json.dumps(rep, indent=2) + "\n")
            summary = report_mod.summary(rep)
            (tmp / SUMMARY).write_text(summary + "\n")
            report_mod.raise_if_unproven(rep)
            (tmp / MARKER).write_text(json.dumps({**swift, "fingerprint": fingerprint, "complete": True,
                                                  "template": str(template_dir), "donor": str(donor_dir),
                                                  "options": options}, indent=2) + "\n")
            os.rename(tmp, output_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    log(summary)
    return GraftResult(output_dir, family.name, plan, rep, swift=swift)


def _write_output(out: Path, family, layout, plan, template_dir: Path, donor_dir: Path, template_tensors,
                  new_cfg: dict, new_gen: dict, processor: dict | None, tokens, *, seed: int,
                  max_shard_bytes: int) -> None:
    (out / "config.json").write_text(json.dumps(new_cfg, indent=2) + "\n")
    if new_gen:
        (out / "generation_config.json").write_text(json.dumps(new_gen, indent=2) + "\n")
    chat_template = None
    if not family.keep_template_chat_template:
        from importlib.resources import files
        chat_template = (files("swiftplus.graft") / "templates" / family.chat_template_file).read_text()
    write_tokenizer_files(template_dir, donor_dir, out, extra_special_tokens=tokens.extra_special_tokens,
                          chat_template=chat_template, copy_processor=processor is None)
    for name, content in (processor or {}).items():
        (out / name).write_text(json.dumps(content, indent=2) + "\n")
    donor_tensors = scan_checkpoint(donor_dir)
    std = (new_cfg.get("vision_config") or {}).get("initializer_range") or new_cfg.get("initializer_range") or 0.02
    tensors = []
    for r in plan.rows:
        if r.source == "template":
            tensors.append(OutTensor(r.target, r.dtype, r.shape, copy_from=template_tensors[r.source_name]))
        elif r.source == "donor":
            tensors.append(OutTensor(r.target, r.dtype, r.shape, copy_from=donor_tensors[r.source_name]))
        elif r.source == "zero":
            tensors.append(OutTensor(r.target, r.dtype, r.shape, zeros=True))
        else:
            crop = template_tensors[r.source_name] if r.source_name else None
            tensors.append(OutTensor(r.target, r.dtype, r.shape,
                                     produce=fresh_producer(r.target, r.shape, r.dtype, std=std, seed=seed,
                                                            crop_from=crop)))
    # read each source file front to back: copies run at sequential-read speed
    tensors.sort(key=lambda t: (str(t.copy_from.file), t.copy_from.start) if t.copy_from else ("~", 0))
    write_checkpoint(out, tensors, max_shard_bytes)
