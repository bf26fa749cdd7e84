"""Graft benchmark on a real-shape pair: Qwen2.5-VL-7B + Qwen3-8B at full width, reduced depth, random bf16.

Prints, side by side from one run, wall time and peak RSS (each in its own subprocess, measured with
resource.getrusage) of:
  swiftplus graft        streamed byte-range copy (proof off: the graft itself)
  swiftplus proof        the proof step alone (fp32 CPU, weights streamed from disk): text equivalence over the
                         first layer, and the whole proof (text over every layer, load check, vision reachability)
  seed-000 approach      transformers on CPU: load both models whole, build a third at random, copy, save
  plain copy             copying the graft output's bytes (the floor any graft must pay)
then the graft with its proofs in one process, as `swiftplus graft` runs it, with each phase's peak RSS (plan,
write, text proof, load check, vision reachability; benchmarks/phase_memory.py), so a regression names its phase.

    python benchmarks/graft.py [--layers 2] [--vision-depth 4] [--host template|donor] [--phases-only]
                               [--workdir DIR] [--keep]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The real models' dimensions, in the fixtures' Dims (swiftplus.fixtures): same layout, config and files
QWEN2_5_VL_7B = dict(hidden_size=3584, num_attention_heads=28, num_key_value_heads=4, intermediate_size=18944,
                     vocab_size=152064, mrope_section=[16, 24, 24], vision_hidden_size=1280, vision_num_heads=16,
                     vision_intermediate_size=3420)
QWEN3_8B = dict(hidden_size=4096, head_dim=128, num_attention_heads=32, num_key_value_heads=8,
                intermediate_size=12288, vocab_size=151936)


def _random_writer():
    """Tensor bytes for a shape: a fixed 64 MiB block of N(0, 0.02) bf16 values, repeated (content is irrelevant
    to copy speed, and generating billions of normals would dominate the setup)."""
    import numpy as np

    from swiftplus.graft.fresh import _to_dtype_bytes
    block = _to_dtype_bytes(np.random.default_rng(0).standard_normal(32 << 20, dtype=np.float32) * 0.02, "BF16")

    def produce(nbytes):
        def gen():
            left = nbytes
            while left > 0:
                step = min(left, len(block))
                yield block[:step]
                left -= step
        return gen
    return produce


def _write(module, dims, out: Path) -> None:
    """A fixture's files (config, tokenizer, processor) with real-size random weights streamed to disk."""
    from swiftplus.graft.safetensors_io import OutTensor, numel, write_checkpoint
    out.mkdir(parents=True, exist_ok=True)
    module.write_files(out, dims)
    produce = _random_writer()
    tensors = [OutTensor(n, "BF16", s, produce=produce(numel(s) * 2)) for n, s, _ in module.tensor_spec(dims)]
    write_checkpoint(out, tensors, max_shard_bytes=4 << 30)


def build_pair(root: Path, layers: int, vision_depth: int) -> tuple[Path, Path]:
    from swiftplus.fixtures import qwen2_5_vl, qwen3
    template, donor = root / "qwen2.5-vl-7b-shape", root / "qwen3-8b-shape"
    _write(qwen2_5_vl, qwen2_5_vl.Dims(**QWEN2_5_VL_7B, num_hidden_layers=layers, vision_depth=vision_depth,
                                       fullatt_block_indexes=[vision_depth - 1]), template)
    _write(qwen3, qwen3.Dims(**QWEN3_8B, num_hidden_layers=layers), donor)
    return template, donor


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
{body}
print("BENCH " + json.dumps({{"wall_s": time.perf_counter() - t0,
                              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

QK_NORM = ["*.q_norm.weight", "*.k_norm.weight"]
GRAFT = """
from swiftplus.graft import graft
graft({template!r}, {donor!r}, {out!r}, proof=False, allow_dropped={allow!r}, log=lambda s: None)
"""

PROOF = """
from pathlib import Path
from swiftplus.graft.families import family_by_name
from swiftplus.graft.proof import run_proof, text_equivalence
from swiftplus.graft.safetensors_io import scan_checkpoint
fam = family_by_name("qwen2_5_vl")
out = Path({out!r})
layout = fam.layout(list(scan_checkpoint(out)))
if {whole}:
    res = run_proof(out, Path({donor!r}), fam, layout, layers=None, log=lambda s: None)
    te = res["text_equivalence"]
    assert res["vision_reachability"]["ok"] and res["load_check"]["ok"], res
else:
    te = text_equivalence(out, Path({donor!r}), fam, layout, layers={layers})
print("TE", te["max_abs_diff"], te["layers"])
"""

PHASES = """
from benchmarks.phase_memory import PhaseMemory
from swiftplus.graft import graft
memory = PhaseMemory()
graft({template!r}, {donor!r}, {out!r}, host={host!r}, allow_dropped={allow!r}, log=lambda s: None,
      watch=memory.watch)
print("PHASES " + json.dumps({{"rows": memory.finish(), "cumulative": memory.cumulative}}))
"""
PEAK_TARGET_MB = 1500  # the graft with its proofs, at these widths

SEED_000 = """
import json, torch
from transformers import AutoConfig, AutoModelForCausalLM, Qwen2_5_VLForConditionalGeneration
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLPatchMerger, Qwen2_5_VLTextModel
vl = Qwen2_5_VLForConditionalGeneration.from_pretrained({template!r}, dtype=torch.bfloat16)
llm = AutoModelForCausalLM.from_pretrained({donor!r}, dtype=torch.bfloat16)
new_config = AutoConfig.from_pretrained({graft_out!r})  # the same rewritten config
vc = new_config.vision_config
vl.model.visual.merger = Qwen2_5_VLPatchMerger(dim=vc.out_hidden_size, context_dim=vc.hidden_size,
                                               spatial_merge_size=vc.spatial_merge_size).to(torch.bfloat16)
new_llm = Qwen2_5_VLTextModel(new_config.text_config).to(torch.bfloat16)
sd = new_llm.state_dict()
for name, param in llm.model.named_parameters():
    if name in sd:
        sd[name].copy_(param)
vl.model.language_model = new_llm
vl.lm_head = llm.lm_head
vl.config = new_config
vl.save_pretrained({out!r}, max_shard_size="4GB")
"""

COPY = """
import shutil
shutil.copytree({src!r}, {out!r})
"""


def _child(code: str) -> str:
    """stdout of code run in a fresh interpreter (each measurement starts from nothing)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def run_child(body: str) -> dict:
    stdout = _child(CHILD.format(root=str(ROOT), body=body))
    line = next(ln for ln in stdout.splitlines() if ln.startswith("BENCH "))
    res = json.loads(line[6:])
    te = next((ln for ln in stdout.splitlines() if ln.startswith("TE ")), None)
    if te:
        res["max_abs_diff"], res["layers"] = float(te.split()[1]), int(te.split()[2])
    return res


def phase_table(template: Path, donor: Path, out: Path, host: str) -> int:
    """The graft with its proofs, one row per phase; returns the peak in MB."""
    allow = [] if host == "donor" else QK_NORM  # host: donor keeps Qwen3's QK-norm; the template's drops it
    code = CHILD.format(root=str(ROOT), body=PHASES.format(template=str(template), donor=str(donor), out=str(out),
                                                           host=host, allow=allow))
    line = next(ln for ln in _child(code).splitlines() if ln.startswith("PHASES "))
    res = json.loads(line[7:])
    shutil.rmtree(out, ignore_errors=True)
    rows = res["rows"]
    kind = "peak so far (this kernel refuses a reset)" if res["cumulative"] else "peak RSS MB"
    print(f"\ngraft with proofs (host: {host}), by phase:\n{'phase':<22} {'RSS at start':>12} {kind:>12} {'wall s':>8}")
    for r in rows:
        start = f"{r['rss_start_mb']:.0f}" if r["rss_start_mb"] is not None else ""
        print(f"{r['phase']:<22} {start:>12} {r['peak_mb']:>12.0f} {r['wall_s']:>8.2f}")
    top = max(rows, key=lambda r: r["peak_mb"])
    verdict = "ok" if top["peak_mb"] < PEAK_TARGET_MB else "OVER"
    print(f"peak {top['peak_mb']:.0f} MB in {top['phase']} (target < {PEAK_TARGET_MB} MB: {verdict})")
    return round(top["peak_mb"])


def _size(d: Path) -> int:
    return sum(p.stat().st_size for p in d.iterdir() if p.name.endswith(".safetensors"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=2, help="decoder layers of both models (full width)")
    ap.add_argument("--vision-depth", type=int, default=4)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--skip-seed000", action="store_true")
    ap.add_argument("--host", choices=("template", "donor"), default="template",
                    help="graft.host of the by-phase run (the side-by-side rows use the template's)")
    ap.add_argument("--phases-only", action="store_true", help="only the graft with proofs, by phase")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="swiftplus-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        # built in a child: a forked child starts with its parent's RSS, so this process stays small
        template, donor = root / "qwen2.5-vl-7b-shape", root / "qwen3-8b-shape"
        run_child(f"from benchmarks.graft import build_pair; from pathlib import Path; "
                  f"build_pair(Path({str(root)!r}), {args.layers}, {args.vision_depth})")
        print(f"built real-shape pair in {time.perf_counter() - t0:.1f}s: template {_size(template) / 1e9:.2f} GB, "
              f"donor {_size(donor) / 1e9:.2f} GB ({args.layers} layers, vision depth {args.vision_depth})")
        if args.phases_only:
            phase_table(template, donor, root / "graft-phases", args.host)
            return 0
        rows = []
        g = run_child(GRAFT.format(template=str(template), donor=str(donor), out=str(root / "graft"), allow=QK_NORM))
        rows.append(("swiftplus graft", g))
        rows.append(("plain copy of output", run_child(COPY.format(src=str(root / "graft"), out=str(root / "copy")))))
        proof = dict(out=str(root / "graft"), donor=str(donor), layers=1)
        rows.append(("proof: text equivalence, 1 layer", run_child(PROOF.format(**proof, whole=False))))
        rows.append(("proof: whole (text, load, vision)", run_child(PROOF.format(**proof, whole=True))))
        if not args.skip_seed000:
            rows.append(("seed-000 (transformers, CPU)", run_child(SEED_000.format(
                template=str(template), donor=str(donor), graft_out=str(root / "graft"), out=str(root / "seed000")))))
        size = _size(root / "graft")
        print(f"\noutput: {size / 1e9:.2f} GB of safetensors\n")
        print(f"{'step':<34} {'wall s':>8} {'peak RSS MB':>12} {'GB/s':>6}")
        for name, r in rows:
            extra = f"  max|diff| {r['max_abs_diff']:.3g}" if "max_abs_diff" in r else ""
            print(f"{name:<34} {r['wall_s']:>8.2f} {r['peak_rss_mb']:>12.0f} {size / 1e9 / r['wall_s']:>6.2f}{extra}")
        copy = rows[1][1]["wall_s"]
        print(f"\ngraft / copy wall: {g['wall_s'] / copy:.2f}x (target <= 1.5x); graft peak RSS "
              f"{g['peak_rss_mb']:.0f} MB (target < 300 MB)")
        phase_table(template, donor, root / "graft-phases", args.host)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
