"""Proof of a graft, in fp32 on CPU:

(a) text-only equivalence: grafted text model vs donor on a probe prompt. Only the probe tokens' rows of
    the embedding and a sample of lm_head rows are read (safetensors slices), and on big checkpoints
    only the first `layers` decoder layers, so memory is bounded whatever the vocabulary or depth.
(b) vision reachability: an image request encoded by the ms-swift template training will use yields as
    many image tokens as image features, and the logits change when the image changes.
(c) the output loads with transformers as the template's class (missing / unexpected / mismatched keys).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

PROBE = "The capital of France is Paris. 1 + 1 = 2; the quick brown fox jumps over the lazy dog."
LM_HEAD_SAMPLE = 256  # lm_head rows compared besides the probe tokens'
FULL_LOAD_MAX_BYTES = 2 << 30  # above this, (b)/(c) load a depth-truncated model


class _Reader:
    """Tensors of a checkpoint by name, read lazily and by row slices."""

    def __init__(self, model_dir: Path):
        from swiftplus.graft.safetensors_io import scan_checkpoint
        self.infos = scan_checkpoint(model_dir)
        self._open = {}

    def _handle(self, name):
        from safetensors import safe_open
        f = self.infos[name].file
        if f not in self._open:
            self._open[f] = safe_open(str(f), framework="pt")
        return self._open[f]

    def tensor(self, name):
        return self._handle(name).get_tensor(name).float()

    def rows(self, name, rows):
        import torch
        sl = self._handle(name).get_slice(name)
        return torch.cat([sl[r:r + 1] for r in rows]).float()


def _no_init():
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # pragma: no cover - older layout
        from transformers.modeling_utils import no_init_weights
    return no_init_weights()


def _truncate(cfg, layers: int, vocab: int):
    cfg.num_hidden_layers = layers
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = list(cfg.layer_types)[:layers]
    if hasattr(cfg, "max_window_layers"):
        cfg.max_window_layers = min(cfg.max_window_layers or layers, layers)
    cfg.vocab_size = vocab
    cfg.pad_token_id = None
    cfg.tie_word_embeddings = False
    cfg._attn_implementation = "eager"
    return cfg


def _text_logits(model, reader: _Reader, prefix: str, embed_name: str, lm_name: str, ids, embed_rows, lm_rows):
    import torch
    state = {}
    for key in model.state_dict():
        state[key] = reader.rows(embed_name, embed_rows) if key == "embed_tokens.weight" else reader.tensor(prefix + key)
    model.load_state_dict(state, strict=True)
    remap = {t: i for i, t in enumerate(embed_rows)}
    x = torch.tensor([[remap[t] for t in ids]])
    with torch.no_grad():
        h = model(input_ids=x).last_hidden_state[0]
        return h @ reader.rows(lm_name, lm_rows).T


def text_equivalence(out_dir: Path, donor_dir: Path, family, layout, layers: int | None = None) -> dict:
    import torch
    import transformers
    from tokenizers import Tokenizer

    donor_cfg = json.loads((donor_dir / "config.json").read_text())
    total = donor_cfg["num_hidden_layers"]
    n_layers = min(layers or total, total)
    ids = Tokenizer.from_file(str(donor_dir / "tokenizer.json")).encode(PROBE).ids
    vocab = donor_cfg["vocab_size"]
    embed_rows = sorted(set(ids))
    lm_rows = sorted(set(ids) | set(range(0, vocab, max(1, vocab // LM_HEAD_SAMPLE))))

    dreader = _Reader(donor_dir)
    dcfg = transformers.AutoConfig.for_model(**{k: v for k, v in donor_cfg.items() if k != "architectures"})
    with _no_init(), torch.device("cpu"):
        dmodel = transformers.AutoModel.from_config(_truncate(dcfg, n_layers, len(embed_rows)), dtype=torch.float32)
    d_lm = "lm_head.weight" if "lm_head.weight" in dreader.infos else "model.embed_tokens.weight"
    ref = _text_logits(dmodel.eval(), dreader, "model.", "model.embed_tokens.weight", d_lm, ids, embed_rows, lm_rows)
    del dmodel

    greader = _Reader(out_dir)
    tcfg = transformers.AutoConfig.from_pretrained(out_dir).get_text_config()
    cls = getattr(transformers, family.text_model_class) if family.text_model_class else None
    with _no_init():
        tcfg = _truncate(tcfg, n_layers, len(embed_rows))
        gmodel = cls(tcfg) if cls else transformers.AutoModel.from_config(tcfg, dtype=torch.float32)
    gmodel = gmodel.float().eval()
    embed = layout.text_prefix + "embed_tokens.weight"
    g_lm = layout.lm_head if layout.lm_head in greader.infos else embed
    got = _text_logits(gmodel, greader, layout.text_prefix, embed, g_lm, ids, embed_rows, lm_rows)
    diff = (got - ref).abs()
    return {"checked": True, "probe_tokens": len(ids), "logit_rows": len(lm_rows), "layers": n_layers,
            "full_depth": n_layers == total, "max_abs_diff": float(diff.max()),
            "mean_abs_diff": float(diff.mean()), "ok": bool(float(diff.max()) <= 1e-5)}


def _probe_images():
    from PIL import Image
    a = Image.new("RGB", (64, 64), (200, 30, 30))
    b = Image.new("RGB", (64, 64), (20, 120, 220))
    for x in range(0, 64, 8):  # some structure, so patches differ from each other
        for y in range(64):
            b.putpixel((x, y), (255, 255, 255))
    return a, b


def _swift_batch(template, image):
    encoded = template.encode({"messages": [{"role": "user", "content": "<image>What is in the picture?"},
                                            {"role": "assistant", "content": "A picture."}],
                               "images": [image]})
    return template.data_collator([encoded])


def load_and_reach(out_dir: Path, family, layers: int | None, log: Callable[[str], None]) -> tuple[dict, dict]:
    """(c) load as the template's class, then (b) through ms-swift's template."""
    import inspect

    import torch
    import transformers

    from swiftplus.graft.safetensors_io import scan_checkpoint

    cfg = transformers.AutoConfig.from_pretrained(out_dir)
    arch = cfg.architectures[0]
    cls = getattr(transformers, arch)
    total_bytes = sum(i.nbytes for i in scan_checkpoint(out_dir).values())
    text_cfg = cfg.get_text_config()
    total = text_cfg.num_hidden_layers
    truncated = total_bytes > FULL_LOAD_MAX_BYTES and (layers or 1) < total
    if truncated:
        keep = layers or 1
        text_cfg.num_hidden_layers = keep
        if getattr(text_cfg, "layer_types", None):
            text_cfg.layer_types = list(text_cfg.layer_types)[:keep]
    model, info = cls.from_pretrained(out_dir, config=cfg, dtype=torch.float32, output_loading_info=True)
    model.eval()
    unexpected = list(info.get("unexpected_keys") or [])
    if truncated:
        import re
        unexpected = [k for k in unexpected if not (m := re.search(r"layers\.(\d+)\.", k)) or int(m.group(1)) < keep]
    problems = {k: list(v) for k, v in (("missing", info.get("missing_keys")), ("unexpected", unexpected),
                                        ("mismatched", info.get("mismatched_keys"))) if v}
    load = {"checked": True, "class": arch, "ok": not problems, "problems": problems,
            "how": f"first {keep} text layers" if truncated else "whole model"}

    from swift.model import get_processor
    from swift.template import get_template
    plugin = family.plugin_path()
    if plugin:
        from swift.utils import import_external_file
        import_external_file(str(plugin))
    processor = get_processor(str(out_dir), model_type=family.swift_model_type, download_model=False)
    template = get_template(processor, template_type=family.swift_template)
    template.set_mode("train")
    template.model = model  # its collator computes rope indices with the model itself
    image_token_id = cfg.image_token_id
    accepted = set(inspect.signature(model.forward).parameters)
    counts = []
    projector = dict(model.named_modules())[family.projector_module]
    hook = projector.register_forward_hook(lambda m, i, o: counts.append(o.numel() // o.shape[-1]))
    logits = []
    try:
        for image in _probe_images():
            batch = _swift_batch(template, image)
            n_tokens = int((batch["input_ids"] == image_token_id).sum())
            inputs = {k: v for k, v in batch.items() if k in accepted and k != "labels"}
            with torch.no_grad():
                logits.append(model(**inputs).logits[0, -4:].float())
    except Exception as e:  # the model itself refuses a token/feature mismatch
        hook.remove()
        return load, {"checked": True, "ok": False, "template": family.swift_template,
                      "problem": f"{type(e).__name__}: {e}"}
    hook.remove()
    n_features = counts[0] if counts else 0
    change = float((logits[0] - logits[1]).abs().max())
    ok = n_tokens > 0 and n_tokens == n_features and change > 0
    return load, {"checked": True, "ok": ok, "template": family.swift_template, "image_tokens": n_tokens,
                  "image_features": n_features, "logits_change": change > 0, "logits_max_change": change}


def run_proof(out_dir: Path, donor_dir: Path, family, layout, plan, *, layers: int | None = None,
              log: Callable[[str], None] = print) -> dict:
    out_dir, donor_dir = Path(out_dir), Path(donor_dir)
    log("graft proof: text-only equivalence (fp32, CPU)")
    te = text_equivalence(out_dir, donor_dir, family, layout, layers)
    log(f"graft proof: max |logit diff| vs donor = {te['max_abs_diff']:.3g} over {te['layers']} layers")
    log("graft proof: load check + vision reachability via ms-swift")
    load, vr = load_and_reach(out_dir, family, layers, log)
    return {"text_equivalence": te, "vision_reachability": vr, "load_check": load}
