"""graft_report.json and its short readable summary."""
from __future__ import annotations

from pathlib import Path

from swiftplus.core.errors import UserError
from swiftplus.graft.config import TEXT_KEYS, text_level

EXACT_TOLERANCE = 1e-5


def _config_changes(old: dict, new: dict) -> dict:
    changes = {}
    for label, a, b in (("", old, new), ("text_config.", text_level(old) if "text_config" in old else {},
                                             text_level(new) if "text_config" in new else {})):
        for key in TEXT_KEYS + ("image_token_id", "pad_token_id"):
            if key in b and a.get(key) != b.get(key) and key != "layer_types":
                changes[label + key] = [a.get(key), b[key]]
    vo, vn = old.get("vision_config") or {}, new.get("vision_config") or {}
    for key in ("out_hidden_size", "deepstack_visual_indexes"):
        if key in vn and vo.get(key) != vn[key]:
            changes[f"vision_config.{key}"] = [vo.get(key), vn[key]]
    return changes


def build_report(family, layout, plan, template_dir: Path, donor_dir: Path, template_cfg: dict, new_cfg: dict,
                 proof: dict, swift: dict) -> dict:
    te = proof.get("text_equivalence") or {"checked": False, "max_abs_diff": None}
    vr = proof.get("vision_reachability") or {"checked": False, "ok": None}
    expect_exact = not plan.dropped and not plan.names("zero")
    return {
        "family": family.name,
        "template": str(template_dir),
        "donor": str(donor_dir),
        "layout": layout.name,
        "swift": swift,
        "copied": plan.names("template") + plan.names("donor"),
        "copied_from_template": plan.names("template"),
        "copied_from_donor": plan.names("donor"),
        "zero_init": plan.names("zero"),
        "fresh_init": plan.names("fresh"),
        "dropped": [d.name for d in plan.dropped],
        "dropped_reasons": {d.name: d.reason for d in plan.dropped},
        "unused_template": {d.name: d.reason for d in plan.unused},
        "replaced_template_llm_tensors": len(plan.replaced),
        "config_changes": _config_changes(template_cfg, new_cfg),
        "expect_exact_text": expect_exact,
        "text_equivalence": te,
        "vision_reachability": vr,
        "load_check": proof.get("load_check") or {"checked": False, "ok": None},
        "serving_names": proof.get("serving_names") or {"checked": False, "ok": None},
    }


def summary(rep: dict) -> str:
    lines = [f"graft ({rep['family']}, {rep['layout']} layout): "
             f"{len(rep['copied_from_template'])} copied from template, {len(rep['copied_from_donor'])} from donor, "
             f"{len(rep['zero_init'])} zero-initialised, {len(rep['fresh_init'])} freshly initialised, "
             f"{len(rep['dropped'])} donor tensors dropped."]
    lines += _by_reason("dropped", rep["dropped_reasons"])
    lines += _by_reason("template tensors left out", rep["unused_template"])
    if rep["fresh_init"]:
        lines.append(f"  fresh (train these in stage 1): {', '.join(rep['fresh_init'])}")
    te = rep["text_equivalence"]
    if te.get("checked"):
        scope = "all layers" if te.get("full_depth") else f"first {te.get('layers')} layers"
        verdict = ("equal to the donor" if te.get("ok") else
                   "DIFFERENT from the donor (expected: see dropped)" if not rep["expect_exact_text"] else
                   "DIFFERENT from the donor")
        lines.append(f"  text-only logits vs donor ({scope}, fp32 CPU): max |diff| = {te['max_abs_diff']:.3g} -> {verdict}")
    vr = rep["vision_reachability"]
    if vr.get("checked"):
        ds = vr.get("deepstack")
        deepstack = f", deepstack features injected {ds['injected']}/{ds['features']}" if ds else ""
        lines.append(f"  vision reachability via ms-swift template {vr.get('template')}: {vr.get('image_tokens')} "
                     f"image tokens, {vr.get('image_features')} features{deepstack}, logits change with the image: "
                     f"{vr.get('logits_change')} -> {'ok' if vr.get('ok') else 'FAILED'}")
    lc = rep["load_check"]
    if lc.get("checked"):
        lines.append(f"  loads with transformers as {lc.get('class')} ({lc.get('how')}): {'ok' if lc.get('ok') else 'FAILED'}"
                     + ("" if lc.get("ok") else f" {lc.get('problems')}"))
    sn = rep.get("serving_names") or {}
    if sn.get("checked"):
        verdict = "ok" if sn.get("ok") else f"FAILED {sn.get('problems')}"
        lines.append(f"  tensor names as {sn.get('engine')} loads them: {verdict}"
                     + (f"; {sn['note']}" if sn.get("note") else ""))
    sw = rep["swift"]
    plug = f" --external_plugins {sw['swift_external_plugins'][0]}" if sw.get("swift_external_plugins") else ""
    lines.append(f"  ms-swift: --model_type {sw['swift_model_type']} --template {sw['swift_template']}{plug}")
    return "\n".join(lines)


def _by_reason(label: str, reasons: dict[str, str]) -> list[str]:
    """One line per distinct reason, with how many tensors it covers."""
    values = list(reasons.values())
    return [f"  {label} {values.count(r)}: {r}" for r in sorted(set(values))]


def raise_if_unproven(rep: dict) -> None:
    problems = []
    lc, vr, te = rep["load_check"], rep["vision_reachability"], rep["text_equivalence"]
    if lc.get("checked") and not lc.get("ok"):
        problems.append(f"the output does not load as {lc.get('class')}: {lc.get('problems')}")
    if vr.get("checked") and not vr.get("ok"):
        problems.append(f"vision is not reachable: {vr.get('problem') or vr}")
    sn = rep.get("serving_names") or {}
    if sn.get("checked") and not sn.get("ok"):
        problems.append(f"{sn.get('engine')} would refuse tensor names: {sn.get('problems')}")
    if te.get("checked") and rep["expect_exact_text"] and not te.get("ok"):
        problems.append(f"text-only logits differ from the donor by {te.get('max_abs_diff')} although every "
                        "donor tensor was hosted")
    if problems:
        raise UserError("graft proof failed, nothing was written: " + "; ".join(problems))
