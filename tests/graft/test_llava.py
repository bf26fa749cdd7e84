"""The llava family: CLIP/SigLIP-shaped towers + any decoder LLM as a llava-hf checkpoint, on the fixtures.

Each graft is checked for what the issue asks: the donor hosted exactly (text logits diff 0.0 in fp32), every
tensor's fate, no token added, a processor and chat template in the donor's format, ms-swift's template agreeing
with that chat template, and tensor names vLLM's LLaVA loader takes. The slow runs (train, serve, evaluate) are in
test_llava_e2e.py."""
import json
import shutil

import pytest

from swiftplus.core.errors import UserError
from swiftplus.graft import graft
from swiftplus.graft.families import family_for
from swiftplus.graft.families.llava import DONOR_CHATS
from swiftplus.graft.safetensors_io import scan_checkpoint
from swiftplus.graft.vllm_names import LLAVA_PREFIX_MAP, check_llava_names, skipped_by_vllm, vllm_prefix_map
from tests.graft.conftest import quiet
from tests.graft.hub_configs import CLIP_L_336, QWEN3_0_6B, SIGLIP_SO400M_384, SMOLVLM2_256M
from tests.helpers import REPO

# pair -> (vision source fixture, donor fixture, the donor's chat format, tower kind)
PAIRS = {
    "smolvlm+qwen3": ("smolvlm2", "qwen3-tied", "qwen3", "siglip_vision_model"),  # recipes/qwen3-smvl-llava
    "siglip+qwen3": ("siglip", "qwen3", "qwen3", "siglip_vision_model"),  # recipes/qwen3-8b-siglip (untied donor)
    "clip+llama3": ("clip", "llama3", "llama3", "clip_vision_model"),
}
PROJECTOR = {f"multi_modal_projector.linear_{i}.{p}" for i in (1, 2) for p in ("weight", "bias")}


@pytest.fixture(scope="module")
def llava(built, tmp_path_factory):
    """llava(pair) -> GraftResult of the pair with proof (read-only)."""
    root = tmp_path_factory.mktemp("llava")
    done = {}

    def get(pair):
        if pair not in done:
            source, donor = PAIRS[pair][:2]
            done[pair] = graft(built(source), built(donor), root / pair, family="llava", log=quiet)
        return done[pair]

    return get


def _json(path):
    return json.loads(path.read_text())


@pytest.mark.parametrize("pair", PAIRS)
def test_the_donor_is_hosted_exactly_and_images_reach_it(llava, pair):
    res = llava(pair)
    rep, cfg = res.report, _json(res.output_dir / "config.json")
    te, vr = rep["text_equivalence"], rep["vision_reachability"]
    assert te["checked"] and te["full_depth"] and te["max_abs_diff"] == 0.0
    assert vr["ok"] and vr["image_tokens"] == vr["image_features"] == cfg["image_seq_length"]
    assert rep["load_check"]["ok"] and rep["serving_names"]["ok"]
    assert rep["dropped"] == [] and rep["zero_init"] == [] and set(rep["fresh_init"]) == PROJECTOR
    chat = PAIRS[pair][2]
    assert res.swift["swift_model_type"] == res.swift["swift_template"] == f"llava_{chat}"
    assert [p.rsplit("/", 1)[1] for p in res.swift["swift_external_plugins"]] == ["llava_graft.py"]


@pytest.mark.parametrize("pair", PAIRS)
def test_every_tensor_has_a_fate(llava, built, pair):
    res = llava(pair)
    source, donor = (scan_checkpoint(built(name)) for name in PAIRS[pair][:2])
    rep, written = res.report, scan_checkpoint(res.output_dir)
    assert set(rep["copied"]) | set(rep["fresh_init"]) == set(written)
    kept = {r.source_name for r in res.plan.rows if r.source == "template"}
    assert kept | set(rep["unused_template"]) == set(source) and not kept & set(rep["unused_template"])
    assert all(n.split("vision_model.", 1)[0] in ("", "model.") for n in kept)
    assert {r.target for r in res.plan.rows if r.source == "template"} == \
        {"vision_tower.vision_model." + n.split("vision_model.", 1)[1] for n in kept}
    assert {r.source_name for r in res.plan.rows if r.source == "donor"} == set(donor)
    targets = {("language_model.lm_head.weight" if n == "lm_head.weight" else "language_model." + n) for n in donor}
    assert targets <= set(written)
    assert all(written[n].shape == donor[n.removeprefix("language_model.")].shape
               for n in written if n.startswith("language_model."))


@pytest.mark.parametrize("pair", PAIRS)
def test_config_tokenizer_and_processor_follow_the_donor(llava, built, pair):
    from transformers import AutoProcessor, AutoTokenizer

    out = llava(pair).output_dir
    donor_dir = built(PAIRS[pair][1])
    cfg, donor_cfg = _json(out / "config.json"), _json(donor_dir / "config.json")
    chat = next(c for c in DONOR_CHATS if c.name == PAIRS[pair][2])
    assert cfg["text_config"] == donor_cfg  # verbatim, architectures included
    assert cfg["tie_word_embeddings"] is donor_cfg["tie_word_embeddings"]
    assert ("language_model.lm_head.weight" in scan_checkpoint(out)) is not donor_cfg["tie_word_embeddings"]
    vision = cfg["vision_config"]
    assert vision["model_type"] == PAIRS[pair][3]
    side = vision["image_size"] // vision["patch_size"]
    assert cfg["image_seq_length"] == side * side  # SigLIP: every patch; CLIP: every patch, the CLS token dropped
    assert (cfg["vision_feature_select_strategy"], cfg["vision_feature_layer"]) == \
        (("full", -1) if vision["model_type"] == "siglip_vision_model" else ("default", -2))

    # nothing added or resized: the donor's own tokenizer, every text tokenized as before
    assert (out / "tokenizer.json").read_bytes() == (donor_dir / "tokenizer.json").read_bytes()
    tok, donor_tok = AutoTokenizer.from_pretrained(out), AutoTokenizer.from_pretrained(donor_dir)
    text = f"a photo {chat.image_token} of <image> and 12345 {chat.markers[0]}"
    assert tok(text).input_ids == donor_tok(text).input_ids and len(tok) == len(donor_tok)
    assert cfg["image_token_index"] == donor_tok.convert_tokens_to_ids(chat.image_token) < donor_cfg["vocab_size"]

    from PIL import Image
    proc = AutoProcessor.from_pretrained(out)
    assert type(proc).__name__ == "LlavaProcessor" and proc.image_token == chat.image_token
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour?"}]}]
    prompt = proc.apply_chat_template(messages, add_generation_prompt=True)
    assert prompt.count(chat.image_token) == 1 and "<image>" not in prompt
    batch = proc(text=[prompt], images=[Image.new("RGB", (90, 60), (200, 10, 10))], return_tensors="pt")
    assert int((batch["input_ids"] == cfg["image_token_index"]).sum()) == cfg["image_seq_length"]
    assert tuple(batch["pixel_values"].shape[-2:]) == (vision["image_size"],) * 2  # one full-size tile


def test_smolvlm_tower_is_siglip_bit_for_bit(llava, built):
    """SmolVLM's vision model, rewritten as a SigLIP vision config, computes the same hidden states on a
    full-size image (its bucketised position ids reduce to SigLIP's)."""
    import torch
    from transformers import LlavaForConditionalGeneration, SmolVLMForConditionalGeneration

    smol = SmolVLMForConditionalGeneration.from_pretrained(built("smolvlm2"), dtype=torch.float32).model.vision_model
    tower = LlavaForConditionalGeneration.from_pretrained(llava("smolvlm+qwen3").output_dir,
                                                          dtype=torch.float32).model.vision_tower
    assert type(tower).__name__ == "SiglipVisionModel"
    size = tower.config.image_size
    pixels = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = smol(pixel_values=pixels, output_hidden_states=True)
        b = tower(pixel_values=pixels, output_hidden_states=True)
    assert len(a.hidden_states) == len(b.hidden_states) == tower.config.num_hidden_layers + 1
    assert all(torch.equal(x, y) for x, y in zip(a.hidden_states, b.hidden_states))
    assert torch.equal(a.last_hidden_state, b.last_hidden_state)


@pytest.mark.parametrize("pair", ["smolvlm+qwen3", "clip+llama3"])
def test_swift_template_renders_the_graft_chat_template(llava, pair):
    """What ms-swift trains and serves (one image token per image before expansion, as in vLLM mode) is what the
    shipped chat template renders for vLLM's own server (Qwen3: with thinking off, as swift serves it)."""
    from PIL import Image
    from swift.model import get_processor
    from swift.template import get_template
    from swift.utils import import_external_file

    res = llava(pair)
    import_external_file(res.swift["swift_external_plugins"][0])
    processor = get_processor(str(res.output_dir), model_type=res.swift["swift_model_type"], download_model=False)
    template = get_template(processor, template_type=res.swift["swift_template"])
    template.set_mode("vllm")
    encoded = template.encode({"messages": [{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": "<image>What colour?"}],
                               "images": [Image.new("RGB", (64, 64), (255, 0, 0))]})
    rendered = processor.apply_chat_template(
        [{"role": "system", "content": "Be brief."},
         {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour?"}]}],
        add_generation_prompt=True, enable_thinking=False)
    assert processor.tokenizer.decode(encoded["input_ids"]) == rendered
    assert encoded["input_ids"].count(processor.image_token_id) == 1


def _iterates_message_content(source: str) -> bool:
    """The first pattern vLLM 0.33 uses to call a chat template's content format "openai" (vllm/renderers/hf.py:
    535-545): a loop over `<message>.content` where <message> is the loop variable over `messages`."""
    import jinja2
    from jinja2 import nodes

    tree = jinja2.Environment().parse(source)
    loops = list(tree.find_all(nodes.For))
    message_vars = {f.target.name for f in loops if isinstance(f.iter, nodes.Name) and f.iter.name == "messages"}
    return any(isinstance(f.iter, nodes.Getattr) and f.iter.attr == "content" and isinstance(f.iter.node, nodes.Name)
               and f.iter.node.name in message_vars for f in loops)


@pytest.mark.parametrize("chat", [c.name for c in DONOR_CHATS])
def test_chat_templates_place_images_themselves_under_vllm(chat):
    """vLLM's OpenAI server prepends a literal "<image>" for "string" templates; ours iterate content parts."""
    assert _iterates_message_content((REPO / f"swiftplus/graft/templates/llava_{chat}.jinja").read_text())
    # the donor's own Qwen3 template is a "string" one: the check tells them apart
    assert not _iterates_message_content((REPO / "swiftplus/fixtures/templates/qwen3.jinja").read_text())


def test_plugin_registers_every_donor_chat():
    import ast
    tree = ast.parse((REPO / "swiftplus/plugins/llava_graft.py").read_text())
    table = next(n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "TEMPLATE_METAS")
    assert [k.value for k in table.keys] == [c.name for c in DONOR_CHATS]


@pytest.mark.parametrize("pair", PAIRS)
def test_names_are_what_vllms_llava_loader_takes(llava, pair):
    out = llava(pair).output_dir
    names, cfg = list(scan_checkpoint(out)), _json(out / "config.json")
    real = vllm_prefix_map()
    if real is not None:  # on a machine with vLLM, the table is pinned to it
        assert real == LLAVA_PREFIX_MAP
    result = check_llava_names(names, cfg, real or LLAVA_PREFIX_MAP)
    assert result["ok"], result["problems"]
    # the legacy llava-hf names, which vLLM's mapper leaves as they are
    assert {n.split(".")[0] for n in names} == {"language_model", "vision_tower", "multi_modal_projector"}
    assert all(n.startswith("vision_tower.vision_model.") for n in names if n.startswith("vision_tower."))
    skipped = skipped_by_vllm(names, cfg)
    assert {n.rsplit(".", 1)[0] for n in skipped} >= {"vision_tower.vision_model.post_layernorm"}
    if cfg["vision_feature_layer"] == -2:  # CLIP: the last layer is never run, vLLM does not build it
        last = cfg["vision_config"]["num_hidden_layers"] - 1
        assert any(f"encoder.layers.{last}." in n for n in skipped)


def test_vllm_check_refuses_the_known_traps(llava):
    out = llava("clip+llama3").output_dir
    names, cfg = list(scan_checkpoint(out)), _json(out / "config.json")
    # a LlavaForConditionalGeneration built fresh and saved writes vision_tower.* without vision_model.
    fresh = [n.replace("vision_tower.vision_model.", "vision_tower.") for n in names]
    assert any("vision_tower.embeddings.patch_embedding.weight" in p for p in check_llava_names(fresh, cfg)["problems"])
    assert not check_llava_names(names + ["vision_tower.vision_model.embeddings.position_ids"], cfg)["ok"]
    assert not check_llava_names([n for n in names if "linear_2" not in n], cfg)["ok"]
    other = {**cfg, "vision_config": {**cfg["vision_config"], "model_type": "smolvlm_vision"}}
    assert "smolvlm_vision" in " ".join(check_llava_names(names, other)["problems"])
    # transformers >= 4.52 names are renamed by vLLM's mapper and accepted too
    new_style = ["model." + n if not n.startswith("language_model.lm_head") else "lm_head.weight" for n in names]
    new_style = [n.replace("model.language_model.model.", "model.language_model.") for n in new_style]
    assert check_llava_names(new_style, cfg)["ok"]


def _refused(tmp_path, source, donor, match, **kw):
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UserError, match=match):
        graft(source, donor, tmp_path / "out", proof=False, log=quiet, **kw)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no temp left


def test_family_choice_and_refusals(built, tmp_path):
    assert family_for(_json(built("smolvlm2") / "config.json")).name == "smolvlm"  # unchanged default
    assert family_for(_json(built("smolvlm2") / "config.json"), name="llava").name == "llava"
    assert family_for(_json(built("siglip") / "config.json")).name == "llava"
    _refused(tmp_path, built("qwen3-vl"), built("qwen3"), "model_type 'qwen3_vl' is not a template the llava",
             family="llava")
    _refused(tmp_path, built("siglip"), built("qwen2.5-vl"), r"architectures.*ForCausalLM")
    naflex = tmp_path / "naflex"
    shutil.copytree(built("siglip"), naflex)
    (naflex / "config.json").write_text(json.dumps({**_json(naflex / "config.json"), "model_type": "siglip2"}))
    _refused(tmp_path, naflex, built("qwen3"), "SigLIP2 NaFlex")
    shutil.rmtree(naflex)
    # a donor whose tokenizer has no chat format the family knows (SmolLM2's ChatML has no <think>)
    donor = tmp_path / "donor"
    shutil.copytree(built("qwen3"), donor)
    shutil.copyfile(built("smolvlm2") / "tokenizer.json", donor / "tokenizer.json")
    _refused(tmp_path, built("clip"), donor, "no chat format the llava family knows")
    shutil.rmtree(donor)
    source = tmp_path / "source"
    shutil.copytree(built("clip"), source)
    (source / "preprocessor_config.json").unlink()
    _refused(tmp_path, source, built("llama3"), "no preprocessor_config.json")
    shutil.rmtree(source)


@pytest.mark.parametrize("source,tokens,recipe", [
    (SMOLVLM2_256M, 1024, "qwen3-smvl-llava"), (SIGLIP_SO400M_384, 729, "qwen3-8b-siglip"), (CLIP_L_336, 576, None)])
def test_real_towers_cost_what_the_recipes_say(source, tokens, recipe):
    """On the hub configs: the tower numbers (defaults of the source's own config class filled in) and the image
    tokens per image, which the recipe headers state."""
    from swiftplus.graft.families import TokenPlan, family_by_name

    cfg = family_by_name("llava").rewrite_config(source, QWEN3_0_6B, TokenPlan({"image_token_id": 151655}), None)
    assert cfg["image_seq_length"] == tokens and cfg["text_config"] == QWEN3_0_6B
    vision = cfg["vision_config"]
    if source is SMOLVLM2_256M:  # left to SmolVLM's defaults on the hub, which differ from SigLIP's
        assert (vision["intermediate_size"], vision["num_hidden_layers"], vision["num_attention_heads"]) == \
            (3072, 12, 12)
    if source is CLIP_L_336:
        assert (vision["hidden_act"], vision["layer_norm_eps"]) == ("quick_gelu", 1e-05)
        assert not {"architectures", "torch_dtype", "transformers_version"} & set(vision)
    if recipe:
        assert f"{tokens} image tokens" in (REPO / "recipes" / f"{recipe}.yaml").read_text().split("\ndescription:")[0]


def test_a_vision_only_save_is_a_source(built, tmp_path):
    """SiglipVisionModel.save_pretrained (a tower on its own, model_type siglip_vision_model) grafts like SigLIP."""
    from transformers import SiglipVisionModel

    source = tmp_path / "tower"
    SiglipVisionModel.from_pretrained(built("siglip")).save_pretrained(source)
    shutil.copyfile(built("siglip") / "preprocessor_config.json", source / "preprocessor_config.json")
    assert _json(source / "config.json")["model_type"] == "siglip_vision_model"
    res = graft(source, built("qwen3-tied"), tmp_path / "out", log=quiet)
    assert res.family == "llava" and res.report["serving_names"]["ok"] and res.report["load_check"]["ok"]
    assert res.report["text_equivalence"]["max_abs_diff"] == 0.0 and res.report["vision_reachability"]["ok"]
    assert {r.target for r in res.plan.rows if r.source == "template"} == \
        {"vision_tower.vision_model." + n.split("vision_model.", 1)[1] for n in scan_checkpoint(source)
         if ".head." not in n}
