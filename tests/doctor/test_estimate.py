"""Parameter counts from configs equal the real tensors, and the byte arithmetic is ZeRO's."""
import json
import math
import struct

import pytest

from swiftplus.doctor import estimate as est
from swiftplus.doctor.known_models import CONFIGS, PUBLISHED
from swiftplus.fixtures.builder import REGISTRY, resolve
from swiftplus.graft.families import family_for
from tests.doctor.conftest import LLAVA_PAIRS, graft_pair
from tests.graft import hub_configs
from tests.graft.conftest import PAIRS

CONTRASTIVE_HEADS = ("logit_scale", "logit_bias", "visual_projection.weight", "text_projection.weight")


def part_of(name: str) -> str:
    if any(k in name for k in ("merger", "connector", "deepstack", "multi_modal_projector.")) \
            or name in CONTRASTIVE_HEADS:
        return "aligner"
    if name.startswith(("visual.", "model.visual.", "model.vision_model.", "vision_model.", "vision_tower.")):
        return "vision"
    return "llm"  # a decoder (language_model.* in a llava checkpoint), or a SigLIP / CLIP text tower


def count_by_part(shapes) -> est.Params:
    parts = {"vision": 0, "aligner": 0, "llm": 0}
    for name, shape in shapes:
        parts[part_of(name)] += math.prod(shape)
    return est.Params(**parts)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_counts_equal_every_fixture_tensor_by_part(name):
    module, dims = resolve(name, {})
    real = count_by_part((n, shape) for n, shape, _ in module.tensor_spec(dims))
    assert est.model_params(module.config(dims)) == real


@pytest.mark.parametrize("ref", sorted(CONFIGS))
def test_known_models_give_their_published_size(ref):
    assert est.model_params(CONFIGS[ref]).total == pytest.approx(PUBLISHED[ref], rel=0.01)


@pytest.mark.parametrize("ref,full", [("Qwen/Qwen2.5-VL-7B-Instruct", hub_configs.QWEN2_5_VL_7B),
                                      ("Qwen/Qwen3-8B", hub_configs.QWEN3_8B),
                                      ("Qwen/Qwen3-0.6B", hub_configs.QWEN3_0_6B),
                                      ("Qwen/Qwen3-VL-2B-Instruct", hub_configs.QWEN3_VL_2B),
                                      ("google/siglip-so400m-patch14-384", hub_configs.SIGLIP_SO400M_384)])
def test_known_models_agree_with_the_full_hub_configs(ref, full):
    assert est.model_params(CONFIGS[ref]) == est.model_params(full)
    assert est.vision_dims(CONFIGS[ref]) == est.vision_dims(full)


def test_a_tower_key_left_out_takes_its_config_class_default():
    # SmolVLM2-256M's hub config leaves intermediate_size (3072) and num_hidden_layers (12) to SmolVLMVisionConfig
    known = CONFIGS["HuggingFaceTB/SmolVLM2-256M-Video-Instruct"]
    assert "num_hidden_layers" not in hub_configs.SMOLVLM2_256M["vision_config"]
    assert est.vision_params(hub_configs.SMOLVLM2_256M) == est.vision_params(known)
    assert est.vision_dims(hub_configs.SMOLVLM2_256M) == est.vision_dims(known) == (768, 12, 16)
    llava = est.grafted_params(hub_configs.SMOLVLM2_256M, CONFIGS["Qwen/Qwen3-0.6B"], "llava")
    assert llava.vision == est.vision_params(known)


def test_the_llava_graft_of_the_shipped_recipes_real_models():
    siglip, qwen3_8b = CONFIGS["AI-ModelScope/siglip-so400m-patch14-384"], CONFIGS["Qwen/Qwen3-8B"]
    full, grafted = est.model_params(siglip), est.grafted_params(siglip, qwen3_8b)  # the default family: llava
    # probe, in_proj (3h x h + 3h), out_proj, layernorm, mlp fc1 and fc2
    pooling = 1152 + 3 * (1152 + 1) * 1152 + (1152 + 1) * 1152 + 2 * 1152 + 2 * (1152 * 4304) + 4304 + 1152
    assert grafted.vision == full.vision - pooling  # LLaVA never runs SigLIP's pooling head
    assert grafted.aligner == (1152 + 1) * 4096 + (4096 + 1) * 4096
    assert grafted.llm == est.model_params(qwen3_8b).total
    view = est.grafted_config(siglip, qwen3_8b)
    assert est.image_patches(view) == 27 * 27 and est.vision_dims(view) == (1152, 27, 1)
    smolvlm = CONFIGS["HuggingFaceTB/SmolVLM2-256M-Video-Instruct"]
    assert est.image_patches(est.grafted_config(smolvlm, qwen3_8b, "llava")) == 32 * 32
    assert est.image_patches(est.grafted_config(smolvlm, qwen3_8b)) == 0  # the smolvlm family: tiles, pixel shuffle


def safetensors_shapes(directory):
    for path in sorted(directory.glob("*.safetensors")):
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        yield from ((k, v["shape"]) for k, v in header.items() if k != "__metadata__")


@pytest.mark.parametrize("key", [*PAIRS, *LLAVA_PAIRS])
def test_grafted_count_equals_the_graft_output(key, grafted, built):
    template, donor, family, _ = graft_pair(key)
    t_cfg = json.loads((built(template) / "config.json").read_text())
    d_cfg = json.loads((built(donor) / "config.json").read_text())
    out = grafted(key).output_dir
    real = count_by_part(safetensors_shapes(out))
    assert est.grafted_params(t_cfg, d_cfg, family) == real
    # the doctor reads the written config.json once the graft exists: it must count the same tensors
    assert est.model_params(json.loads((out / "config.json").read_text())) == real


@pytest.mark.parametrize("template", ["qwen2.5-vl", "qwen3-vl", "smolvlm2", "siglip", "clip"])
def test_the_default_family_is_the_one_the_graft_picks(template):
    module, dims = resolve(template, {})
    cfg, donor = module.config(dims), CONFIGS["Qwen/Qwen3-0.6B"]
    assert est.grafted_params(cfg, donor) == est.grafted_params(cfg, donor, family_for(cfg).name)


def test_the_llava_family_keeps_smolvlm_s_tower_and_drops_its_connector(grafted, built):
    # the same template, two families: the tower is the same, the aligner and the image patches are not
    t_cfg = json.loads((built("smolvlm2") / "config.json").read_text())
    d_cfg = json.loads((built("qwen3-tied") / "config.json").read_text())
    smolvlm, llava = est.grafted_params(t_cfg, d_cfg, "smolvlm"), est.grafted_params(t_cfg, d_cfg, "llava")
    assert smolvlm.vision == llava.vision and smolvlm.llm == llava.llm and smolvlm.aligner != llava.aligner
    written = json.loads((grafted("llava:smolvlm+qwen3").output_dir / "config.json").read_text())
    assert est.image_patches(written) == est.image_patches(est.grafted_config(t_cfg, d_cfg, "llava")) \
        == written["image_seq_length"]


def test_lora_counts_a_and_b_on_each_targeted_linear():
    cfg = CONFIGS["Qwen/Qwen3-0.6B"]  # hidden 1024, 16 heads x 128, 8 kv heads, intermediate 3072, 28 layers
    qv = 8 * ((1024 + 2048) + (1024 + 1024))
    assert est.lora_params(cfg, 8, ["q_proj", "v_proj"]) == 28 * qv
    assert est.lora_params(cfg, 8, "all-linear") == 28 * 8 * (
        (1024 + 2048) + 2 * (1024 + 1024) + (2048 + 1024) + 3 * (1024 + 3072))


P = est.Params(vision=100, aligner=20, llm=880)  # 1000 parameters


@pytest.mark.parametrize("zero,weights,gradients,optimizer", [
    (None, 2000, 2000, 4000),  # plain AdamW: two moments in the weights' dtype, nothing partitioned
    (1, 2000, 2000, 12000 / 4),
    (2, 2000, 2000 / 4, 12000 / 4),
    (3, 2000 / 4, 2000 / 4, 12000 / 4),
])
def test_zero_stages_partition_model_states(zero, weights, gradients, optimizer):
    t = est.Training(P, trainable=1000, dtype=2, world=4, zero=zero, batch=1, seq=10, hidden=8, layers=2, vocab=16)
    mem = est.train_memory(t)
    assert (mem["weights"], mem["gradients"], mem["optimizer"]) == (weights, gradients, optimizer)


def test_frozen_parts_get_no_gradients_or_optimizer_state():
    t = est.Training(P, trainable=P.aligner, dtype=2, zero=2, world=1)
    mem = est.train_memory(t)
    assert mem["weights"] == 2 * P.total and mem["gradients"] == 2 * 20 and mem["optimizer"] == 12 * 20


def test_activation_allowance():
    base = dict(params=P, trainable=0, dtype=2, batch=2, seq=100, hidden=8, layers=4, vocab=50)
    per_layer = 2 * 100 * 8 * 2
    logits = 2 * 100 * 50 * (2 + 4)
    kept = est.train_memory(est.Training(**base, checkpointing=True))[est.ACTIVATIONS]
    full = est.train_memory(est.Training(**base, checkpointing=False))[est.ACTIVATIONS]
    assert kept == 4 * per_layer + 17 * per_layer + logits
    assert full == 4 * 17 * per_layer + logits


def test_a_frozen_vision_tower_keeps_only_one_layer_of_activations():
    vision = dict(params=P, trainable=0, dtype=2, batch=1, seq=0, vision_patches=1000, vision_hidden=4,
                  vision_layers=10)
    assert est.vision_activations(est.Training(**vision)) == 17 * 1000 * 4 * 2
    assert est.vision_activations(est.Training(**vision, vision_trainable=True)) == (10 + 17) * 1000 * 4 * 2
    assert est.vision_activations(est.Training(**vision, vision_trainable=True, vision_checkpointing=False)) \
        == 10 * 17 * 1000 * 4 * 2


def test_checkpoint_sizes():
    full = est.Training(P, trainable=1000, dtype=2, zero=2)
    assert est.checkpoint_bytes(full, lora=False, save_only_model=True) == 2000
    assert est.checkpoint_bytes(full, lora=False, save_only_model=False) == 2000 + 2000 + 12000  # + engine's copy
    zero3 = est.Training(P, trainable=1000, dtype=2, zero=3)
    assert est.checkpoint_bytes(zero3, lora=False, save_only_model=False) == 2000 + 12000
    plain = est.Training(P, trainable=1000, dtype=2)
    assert est.checkpoint_bytes(plain, lora=False, save_only_model=False) == 2000 + 4000
    lora = est.Training(P, trainable=10, dtype=2)
    assert est.checkpoint_bytes(lora, lora=True, save_only_model=False) == 40 + 80  # fp32 adapters + moments


def test_the_issue_s_stage_2_checkpoint_is_about_140_gb():
    grafted = est.grafted_params(CONFIGS["Qwen/Qwen2.5-VL-7B-Instruct"], CONFIGS["Qwen/Qwen3-8B"])
    t = est.Training(grafted, trainable=grafted.total, dtype=2, zero=2, world=8)
    assert 130e9 < est.checkpoint_bytes(t, lora=False, save_only_model=False) < 150e9


@pytest.mark.parametrize("limit,max_steps,save_steps,kept", [
    (2, None, 500, 3),  # the next is written before the oldest goes
    (None, 200, 25, 8),
    (None, None, 500, None),  # unbounded
    (0, None, None, None),
])
def test_kept_checkpoints(limit, max_steps, save_steps, kept):
    assert est.kept_checkpoints(limit, max_steps, save_steps) == kept
