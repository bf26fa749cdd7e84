"""The proof's weights-on-disk forward gives the same logits as the model loaded whole by transformers."""
import pytest
import torch

from tests.graft.conftest import FAMILIES


def _image():
    from PIL import Image
    img = Image.new("RGB", (64, 64), (40, 160, 90))
    for x in range(0, 64, 8):
        for y in range(64):
            img.putpixel((x, y), (250, 250, 250))
    return img


@pytest.mark.parametrize("blocks", ["whole", "blocked"])
@pytest.mark.parametrize("family", FAMILIES)
def test_streamed_forward_equals_the_loaded_model(grafted, family, blocks, monkeypatch):
    """blocked: every linear layer wider than a few rows is applied a block of output rows at a time, as an 8B
    model's are at the default BLOCK_BYTES."""
    import transformers

    from swiftplus.graft import streamed as streamed_mod
    from swiftplus.graft.families import family_by_name
    from swiftplus.graft.streamed import DiskTensors, checkpoint_names, empty_model, streamed

    made = []
    if blocks == "blocked":
        monkeypatch.setattr(streamed_mod, "BLOCK_BYTES", 4 * 96 * 7)  # 7 rows of a 96-wide layer: ragged blocks
        real = streamed_mod._blocked_forward
        monkeypatch.setattr(streamed_mod, "_blocked_forward", lambda *a: made.append(a[1]) or real(*a))

    out = grafted(family).output_dir
    fam = family_by_name(family)
    cls = fam.transformers_class(fam.architecture)  # first: it may register a model type transformers lacks
    cfg = transformers.AutoConfig.from_pretrained(out)
    assert cfg.architectures == [cls.__name__]
    processor = transformers.AutoProcessor.from_pretrained(out)
    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                                                                       {"type": "text", "text": "Colour?"}]}],
                                         add_generation_prompt=True)
    inputs = processor(text=[text], images=[_image()], return_tensors="pt")
    rows = [0, 7, 151643, 151655, cfg.get_text_config().vocab_size - 1]

    loaded = cls.from_pretrained(out, dtype=torch.float32).eval()
    with torch.no_grad():
        want = loaded(**inputs).logits[..., rows]
    del loaded

    model = empty_model(lambda: cls._from_config(cfg, dtype=torch.float32))
    reader = DiskTensors(out)
    names = checkpoint_names(model, out, list(reader.infos))
    head = next(n for n, m in model.named_modules() if m is model.get_output_embeddings())
    with torch.no_grad(), streamed(model, lambda name, r: reader.tensor(names[name], r), head=head, head_rows=rows):
        got = model(**inputs).logits
    reader.close()
    assert (len(made) > 10) == (blocks == "blocked")
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-5, rtol=0)
    # afterwards the weights are back on disk: nothing stays resident
    assert {p.device.type for p in model.parameters()} == {"meta"}


def test_rows_are_read_exactly(built):
    from safetensors import safe_open

    from swiftplus.graft.streamed import DiskTensors
    donor = built("qwen3")
    reader = DiskTensors(donor)
    info = reader.infos["model.embed_tokens.weight"]
    with safe_open(str(info.file), framework="pt") as f:
        whole = f.get_tensor("model.embed_tokens.weight").float()
        norm = f.get_tensor("model.norm.weight").float() if "model.norm.weight" in f.keys() else None
    assert torch.equal(reader.tensor("model.embed_tokens.weight", [151655, 3, 151655]), whole[[151655, 3, 151655]])
    assert torch.equal(reader.tensor("model.embed_tokens.weight"), whole)
    if norm is not None:
        assert torch.equal(reader.tensor("model.norm.weight"), norm)
    reader.close()


@pytest.mark.parametrize("change, problem", [({"num_hidden_layers": 3}, "missing"),
                                             ({"num_hidden_layers": 1}, "unexpected"),
                                             ({"intermediate_size": 160}, "mismatched")])
def test_load_check_names_what_does_not_fit(grafted, tmp_path, change, problem):
    import json
    import shutil

    import transformers

    from swiftplus.graft.proof import load_check
    out = tmp_path / "g"
    shutil.copytree(grafted("qwen3_vl").output_dir, out)
    cfg = json.loads((out / "config.json").read_text())
    cfg["text_config"].update(change)
    (out / "config.json").write_text(json.dumps(cfg))
    res = load_check(out, transformers.AutoConfig.from_pretrained(out))
    assert not res["ok"] and list(res["problems"]) == [problem]
    assert all("language_model.layers" in k for k in res["problems"][problem])
    assert load_check(grafted("qwen3_vl").output_dir, transformers.AutoConfig.from_pretrained(
        grafted("qwen3_vl").output_dir))["ok"]
