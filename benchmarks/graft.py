"""Graft benchmark on a real-shape pair: Qwen2.5-VL-7B + Qwen3-8B at full width, reduced depth, random bf16.

Prints, side by side from one run, wall time and peak RSS (each in its own subprocess, measured with
resource.getrusage) of:
  swiftplus graft        streamed byte-range copy (proof off: the graft itself)
  swiftplus proof        the proof step alone (fp32 CPU, probe-token rows only, first layers)
  seed-000 approach      transformers on CPU: load both models whole, build a third at random, copy, save
  plain copy             copying the graft output's bytes (the floor any graft must pay)

    python benchmarks/graft.py [--layers 2] [--vision-depth 4] [--workdir DIR] [--keep]
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

QWEN2_5_VL_7B_TEXT = dict(hidden_size=3584, intermediate_size=18944, num_attention_heads=28, num_key_value_heads=4,
                          vocab_size=152064)
QWEN2_5_VL_7B_VISION = dict(hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                            patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112)
QWEN3_8B = dict(hidden_size=4096, intermediate_size=12288, num_attention_heads=32, num_key_value_heads=8,
                head_dim=128, vocab_size=151936)


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


def _write(out: Path, shapes: dict[str, tuple], config: dict, extra_files: dict[str, str]) -> None:
    from swiftplus.graft.safetensors_io import OutTensor, numel, write_checkpoint
    out.mkdir(parents=True, exist_ok=True)
    produce = _random_writer()
    tensors = [OutTensor(n, "BF16", s, produce=produce(numel(s) * 2)) for n, s in shapes.items()]
    write_checkpoint(out, tensors, max_shard_bytes=4 << 30)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    for name, text in extra_files.items():
        (out / name).write_text(text)


def _decoder_shapes(prefix, c, layers, bias):
    hd = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
    h, q, kv, i = c["hidden_size"], c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd, c["intermediate_size"]
    s = {f"{prefix}embed_tokens.weight": (c["vocab_size"], h), f"{prefix}norm.weight": (h,)}
    for n in range(layers):
        p = f"{prefix}layers.{n}."
        s.update({p + "self_attn.q_proj.weight": (q, h), p + "self_attn.k_proj.weight": (kv, h),
                  p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.o_proj.weight": (h, q),
                  p + "mlp.gate_proj.weight": (i, h), p + "mlp.up_proj.weight": (i, h),
                  p + "mlp.down_proj.weight": (h, i), p + "input_layernorm.weight": (h,),
                  p + "post_attention_layernorm.weight": (h,)})
        if bias:
            s.update({p + "self_attn.q_proj.bias": (q,), p + "self_attn.k_proj.bias": (kv,),
                      p + "self_attn.v_proj.bias": (kv,)})
        else:
            s.update({p + "self_attn.q_norm.weight": (hd,), p + "self_attn.k_norm.weight": (hd,)})
    return s


def build_pair(root: Path, layers: int, vision_depth: int) -> tuple[Path, Path]:
    sys.path.insert(0, str(ROOT))
    from tests.graft.tiny import qwen_tokenizer
    v = QWEN2_5_VL_7B_VISION
    vs = {"visual.patch_embed.proj.weight": (v["hidden_size"], 3, 2, 14, 14),
          "visual.merger.ln_q.weight": (v["hidden_size"],),
          "visual.merger.mlp.0.weight": (v["hidden_size"] * 4, v["hidden_size"] * 4),
          "visual.merger.mlp.0.bias": (v["hidden_size"] * 4,),
          "visual.merger.mlp.2.weight": (v["out_hidden_size"], v["hidden_size"] * 4),
          "visual.merger.mlp.2.bias": (v["out_hidden_size"],)}
    for b in range(vision_depth):
        p = f"visual.blocks.{b}."
        h, i = v["hidden_size"], v["intermediate_size"]
        vs.update({p + "norm1.weight": (h,), p + "norm2.weight": (h,), p + "attn.qkv.weight": (3 * h, h),
                   p + "attn.qkv.bias": (3 * h,), p + "attn.proj.weight": (h, h), p + "attn.proj.bias": (h,),
                   p + "mlp.gate_proj.weight": (i, h), p + "mlp.gate_proj.bias": (i,), p + "mlp.up_proj.weight": (i, h),
                   p + "mlp.up_proj.bias": (i,), p + "mlp.down_proj.weight": (h, i), p + "mlp.down_proj.bias": (h,)})
    t = QWEN2_5_VL_7B_TEXT
    template_shapes = {**vs, **_decoder_shapes("model.", t, layers, bias=True),
                       "lm_head.weight": (t["vocab_size"], t["hidden_size"])}
    template_cfg = {"architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
                    **t, "num_hidden_layers": layers, "max_window_layers": layers, "hidden_act": "silu",
                    "rms_norm_eps": 1e-6, "rope_theta": 1e6, "bos_token_id": 151643, "eos_token_id": 151645,
                    "image_token_id": 151655, "video_token_id": 151656, "vision_start_token_id": 151652,
                    "vision_end_token_id": 151653, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
                    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
                    "vision_config": {**v, "depth": vision_depth, "fullatt_block_indexes": [vision_depth - 1],
                                      "hidden_act": "silu", "tokens_per_second": 2}}
    d = QWEN3_8B
    donor_shapes = {**_decoder_shapes("model.", d, layers, bias=False), "lm_head.weight": (d["vocab_size"], d["hidden_size"])}
    donor_cfg = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", **d, "num_hidden_layers": layers,
                 "max_window_layers": layers, "hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 1000000,
                 "bos_token_id": 151643, "eos_token_id": 151645, "tie_word_embeddings": False,
                 "max_position_embeddings": 40960, "torch_dtype": "bfloat16"}
    template, donor = root / "qwen2.5-vl-7b-shape", root / "qwen3-8b-shape"
    _write(template, template_shapes, template_cfg, {})
    _write(donor, donor_shapes, donor_cfg, {})
    qwen_tokenizer(template)
    qwen_tokenizer(donor)
    return template, donor


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
{body}
print("BENCH " + json.dumps({{"wall_s": time.perf_counter() - t0,
                              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

GRAFT = """
from swiftplus.graft import graft
graft({template!r}, {donor!r}, {out!r}, proof=False, allow_dropped=["*.q_norm.weight", "*.k_norm.weight"],
      log=lambda s: None)
"""

PROOF = """
from pathlib import Path
from swiftplus.graft.families import family_by_name
from swiftplus.graft.proof import text_equivalence
from swiftplus.graft.safetensors_io import scan_checkpoint
fam = family_by_name("qwen2_5_vl")
out = Path({out!r})
te = text_equivalence(out, Path({donor!r}), fam, fam.layout(list(scan_checkpoint(out))), layers={layers})
print("TE", te["max_abs_diff"], te["layers"])
"""

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


def run_child(body: str) -> dict:
    code = CHILD.format(root=str(ROOT), body=body)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{proc.stderr[-3000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH "))
    res = json.loads(line[6:])
    te = next((ln for ln in proc.stdout.splitlines() if ln.startswith("TE ")), None)
    if te:
        res["max_abs_diff"], res["layers"] = float(te.split()[1]), int(te.split()[2])
    return res


def _size(d: Path) -> int:
    return sum(p.stat().st_size for p in d.iterdir() if p.name.endswith(".safetensors"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=2, help="decoder layers of both models (full width)")
    ap.add_argument("--vision-depth", type=int, default=4)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--skip-seed000", action="store_true")
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
        rows = []
        g = run_child(GRAFT.format(template=str(template), donor=str(donor), out=str(root / "graft")))
        rows.append(("swiftplus graft", g))
        rows.append(("plain copy of output", run_child(COPY.format(src=str(root / "graft"), out=str(root / "copy")))))
        rows.append(("swiftplus proof (text, 1 layer)", run_child(PROOF.format(out=str(root / "graft"), donor=str(donor), layers=1))))
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
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
