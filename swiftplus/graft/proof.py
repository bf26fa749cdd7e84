"""Proof of a graft, in fp32 on CPU, with the weights left on disk (see streamed.py: memory is bounded
by a block of a linear layer's rows, whatever the model's depth, width or vocabulary):

(a) text-only equivalence: grafted text model vs donor on a probe prompt. The embeddings give only the
    probe tokens' rows and lm_head only those plus a sample of rows; `layers` limits the depth compared.
(b) vision reachability: an image request encoded by the ms-swift template training will use yields as
    many image tokens as image features, every deepstack feature the vision tower makes is injected into
    the decoder, and the logits change when the image changes.
(c) the output loads with transformers as the template's class: tensor names and shapes, matched on the
    meta device (missing / unexpected / mismatched keys), without reading the weights.
"""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Callable, ContextManager

from swiftplus.core.configs import read_config

PROBE = "The capital of France is Paris. 1 + 1 = 2; the quick brown fox jumps over the lazy dog."
LM_HEAD_SAMPLE = 256  # lm_head rows compared besides the probe tokens'
FULL_DEPTH_MAX_BYTES = 2 << 30  # above this, (b) runs the first layers only unless told otherwise


def _lm_sample(vocab: int, extra=()) -> list[int]:
    return sorted(set(extra) | set(range(0, vocab, max(1, vocab // LM_HEAD_SAMPLE))))


def _truncate(cfg, layers: int):
    cfg.num_hidden_layers = layers
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = list(cfg.layer_types)[:layers]
    if getattr(cfg, "max_window_layers", None):
        cfg.max_window_layers = min(cfg.max_window_layers, layers)
    return cfg


def _text_logits(build, reader, prefix: str, lm_name: str, ids: list[int], lm_rows: list[int]):
    import torch

    from swiftplus.graft.streamed import empty_model, streamed
    model = empty_model(build)
    with torch.no_grad(), streamed(model, lambda name, rows: reader.tensor(prefix + name, rows)):
        h = model(input_ids=torch.tensor([ids])).last_hidden_state[0]
    return h @ reader.tensor(lm_name, lm_rows).T


def text_equivalence(out_dir: Path, donor_dir: Path, family, layout, layers: int | None = None) -> dict:
    import transformers
    from tokenizers import Tokenizer

    from swiftplus.graft.streamed import DiskTensors

    donor_cfg = read_config(donor_dir, "graft.donor")
    total = donor_cfg["num_hidden_layers"]
    n_layers = min(layers or total, total)
    ids = Tokenizer.from_file(str(donor_dir / "tokenizer.json")).encode(PROBE).ids
    lm_rows = _lm_sample(donor_cfg["vocab_size"], ids)

    # the family's classes first: importing them registers a model type transformers lacks with AutoConfig
    cls = family.transformers_class(family.text_model_class) if family.text_model_class else None
    dreader, greader = DiskTensors(donor_dir), DiskTensors(out_dir)
    try:
        dcfg = _truncate(transformers.AutoConfig.for_model(
            **{k: v for k, v in donor_cfg.items() if k != "architectures"}), n_layers)
        dcfg._attn_implementation = "eager"
        d_lm = "lm_head.weight" if "lm_head.weight" in dreader else "model.embed_tokens.weight"
        ref = _text_logits(lambda: transformers.AutoModel.from_config(dcfg), dreader, "model.", d_lm, ids, lm_rows)

        tcfg = _truncate(transformers.AutoConfig.from_pretrained(out_dir).get_text_config(), n_layers)
        tcfg._attn_implementation = "eager"
        g_lm = layout.lm_head if layout.lm_head in greader else layout.text_prefix + "embed_tokens.weight"
        got = _text_logits(lambda: cls(tcfg) if cls else transformers.AutoModel.from_config(tcfg), greader,
                           layout.text_prefix, g_lm, ids, lm_rows)
    finally:
        dreader.close()
        greader.close()
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


def _model_class(cfg, family=None):
    if family is not None:
        return family.transformers_class(cfg.architectures[0])
    import transformers
    return getattr(transformers, cfg.architectures[0])


def load_check(out_dir: Path, cfg, family=None) -> dict:
    """(c): transformers matches every tensor of the output to the template class (meta device, no data)."""
    cls = _model_class(cfg, family)
    _, info = cls.from_pretrained(out_dir, config=cfg, device_map="meta", output_loading_info=True,
                                  ignore_mismatched_sizes=True)  # report shape mismatches rather than raise
    problems = {k: sorted(map(str, v)) for k, v in (("missing", info.get("missing_keys")),
                                                     ("unexpected", info.get("unexpected_keys")),
                                                     ("mismatched", info.get("mismatched_keys"))) if v}
    return {"checked": True, "class": cls.__name__, "ok": not problems, "problems": problems,
            "how": "tensor names and shapes"}


class _DeepstackWatch:
    """Counts deepstack features the vision tower produces and those the decoder injects (per forward)."""

    def __init__(self, model):
        modules = dict(model.named_modules())
        self.mergers = next((m for n, m in modules.items() if n.endswith("deepstack_merger_list")), None)
        self.decoder = next((m for m in modules.values() if hasattr(m, "_deepstack_process")), None)
        self.produced = self.injected = 0
        self._hooks = []
        if self.mergers is None or self.decoder is None:
            return
        for merger in self.mergers:
            self._hooks.append(merger.register_forward_hook(lambda *a: self._count("produced")))
        inject = self.decoder._deepstack_process

        def counting(*args, **kwargs):
            self._count("injected")
            return inject(*args, **kwargs)
        self.decoder._deepstack_process = counting

    def _count(self, what: str) -> None:
        setattr(self, what, getattr(self, what) + 1)

    def remove(self) -> None:
        for h in self._hooks:
            h.remove()
        if self.decoder is not None and "_deepstack_process" in vars(self.decoder):  # only our instance override
            del self.decoder._deepstack_process

    def result(self, images: int, run_layers: int, layers: int) -> dict | None:
        """ok: every feature the tower makes has a decoder layer to go to (of `layers`), and each of the
        `run_layers` layers the check ran injected its own."""
        if self.mergers is None:
            return None
        per_image, injected = self.produced // images, self.injected // images
        return {"features": per_image, "injected": injected, "decoder_layers": layers,
                "ok": per_image == len(self.mergers) and per_image <= layers
                and injected == min(per_image, run_layers)}


def vision_reachability(out_dir: Path, family, cfg, layers: int | None) -> dict:
    """(b), through ms-swift's template, on a model whose weights are streamed from out_dir."""
    import inspect

    import torch

    from swiftplus.graft.safetensors_io import scan_checkpoint
    from swiftplus.graft.streamed import (
        DiskTensors,
        checkpoint_names,
        empty_model,
        streamed,
    )

    cls = _model_class(cfg, family)
    text_cfg = cfg.get_text_config()
    total = text_cfg.num_hidden_layers
    if layers is None and sum(i.nbytes for i in scan_checkpoint(out_dir).values()) <= FULL_DEPTH_MAX_BYTES:
        depth = total
    else:  # enough layers for every deepstack injection to be checked
        taps = len(getattr(cfg.vision_config, "deepstack_visual_indexes", None) or [])
        depth = min(total, max(layers or 1, taps))
    _truncate(text_cfg, depth)
    model = empty_model(lambda: cls._from_config(cfg, dtype=torch.float32))
    reader = DiskTensors(out_dir)
    names = checkpoint_names(model, out_dir, list(reader.infos))

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
    accepted = set(inspect.signature(model.forward).parameters)
    counts = []
    projector = dict(model.named_modules())[family.projector_module]
    hook = projector.register_forward_hook(lambda m, i, o: counts.append(o.numel() // o.shape[-1]))
    deepstack = _DeepstackWatch(model)
    head = next(n for n, m in model.named_modules() if m is model.get_output_embeddings())
    logits = []
    base = {"checked": True, "template": family.swift_template, "layers": depth, "full_depth": depth == total}
    try:
        with streamed(model, lambda name, rows: reader.tensor(names[name], rows), head=head,
                      head_rows=_lm_sample(text_cfg.vocab_size)):
            images = _probe_images()
            for image in images:
                batch = _swift_batch(template, image)
                n_tokens = int((batch["input_ids"] == cfg.image_token_id).sum())
                inputs = {k: v for k, v in batch.items() if k in accepted and k != "labels"}
                with torch.no_grad():
                    logits.append(model(**inputs).logits[0, -4:].float())
    except Exception as e:  # the model itself refuses a token/feature mismatch
        return {**base, "ok": False, "problem": f"{type(e).__name__}: {e}"}
    finally:
        hook.remove()
        deepstack.remove()
        reader.close()
    n_features = counts[0] if counts else 0
    change = float((logits[0] - logits[1]).abs().max())
    ds = deepstack.result(len(images), depth, total)
    ok = n_tokens > 0 and n_tokens == n_features and change > 0 and (ds is None or ds["ok"])
    return {**base, "ok": ok, "image_tokens": n_tokens, "image_features": n_features,
            "logits_change": change > 0, "logits_max_change": change, **({"deepstack": ds} if ds else {})}


def run_proof(out_dir: Path, donor_dir: Path, family, layout, *, layers: int | None = None,
              log: Callable[[str], None] = print, watch: Callable[[str], ContextManager] = nullcontext) -> dict:
    """(a), (c) and (b), each one phase of `watch` (so a benchmark can name the one whose memory grew)."""
    out_dir, donor_dir = Path(out_dir), Path(donor_dir)
    log("graft proof: text-only equivalence (fp32, CPU)")
    with watch("text proof"):
        te = text_equivalence(out_dir, donor_dir, family, layout, layers)
    log(f"graft proof: max |logit diff| vs donor = {te['max_abs_diff']:.3g} over {te['layers']} layers")
    log("graft proof: load check (tensor names and shapes)")
    with watch("load check"):
        import transformers
        cfg = transformers.AutoConfig.from_pretrained(out_dir)
        load = load_check(out_dir, cfg, family)
    log("graft proof: vision reachability via ms-swift")
    with watch("vision reachability"):
        vr = vision_reachability(out_dir, family, cfg, layers)
    return {"text_equivalence": te, "vision_reachability": vr, "load_check": load}
