"""How many tokens a row will take once the template has expanded its images: text + image tokens.

Image tokens follow what ms-swift's template does at training time, per template family:
  qwen2_vl, qwen2_5_vl   qwen_vl_utils.fetch_image: smart_resize to multiples of 28 (patch 14 x merge 2)
                         between IMAGE_MIN/MAX_TOKEN_NUM tokens (ms-swift sets those from MIN/MAX_PIXELS
                         // 28**2); one token per 28x28 block
  qwen3_vl, qwen3_5      the same with patch 16: multiples of 32
  smolvlm_qwen3, idefics3  SmolVLM image splitting: longest edge scaled to `longest_edge`, tiles of `tile`
                         pixels, `seq_len` tokens per tile plus one global image (none for a single tile)
  llava_qwen3, llava_llama3  LlavaProcessor: every image resized to the tower's one size, one token per patch
                         (+ CLIP's class token unless the strategy drops it): fixed per model, so these need the
                         model directory (the graft output) to read it from
Add a family by adding a Family to TEMPLATES. Text is counted with the model's tokenizer when one is given,
else estimated as UTF-8 bytes / 4 (about right for English and for Chinese with Qwen's vocabulary).
Videos are not counted.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Mapping

from swiftplus.core.choices import QWEN3_NON_THINKING_PREFIX
from swiftplus.core.errors import UserError

MAX_RATIO = 200  # qwen_vl_utils refuses more extreme aspect ratios


@dataclass
class TokenBudget:
    max_length: int
    template: str
    max_pixels: int | None = None  # MAX_PIXELS as ms-swift reads it from the environment
    min_pixels: int | None = None
    tokenizer_dir: str | None = None
    image_max_tokens: int | None = None  # IMAGE_MAX_TOKEN_NUM: qwen_vl_utils' own limit, before MAX_PIXELS
    image_min_tokens: int | None = None  # IMAGE_MIN_TOKEN_NUM
    _tokenizer: object = field(default=None, init=False, repr=False, compare=False)
    _vision: dict | None = field(default=None, init=False, repr=False, compare=False)
    _counts: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.template not in TEMPLATES:
            raise UserError(f"token budget: no image-token rule for template '{self.template}'; known: "
                            f"{', '.join(sorted(TEMPLATES))} (add one to swiftplus/data/budget.py TEMPLATES)")
        if self.family.needs_model and self.tokenizer_dir is None:
            raise UserError(f"token budget: template '{self.template}' spends a fixed number of tokens per image that "
                            f"its vision tower sets; give the model directory (--tokenizer, the graft output) to "
                            f"read it from")
        if self.max_length <= 0:
            raise UserError(f"token budget: max_length must be positive, got {self.max_length}")

    @classmethod
    def from_env(cls, max_length: int, template: str, environ: Mapping[str, str] | None = None,
                 tokenizer_dir: str | None = None) -> "TokenBudget":
        env = os.environ if environ is None else environ

        def get(key: str) -> int | None:
            if not env.get(key):
                return None
            try:
                return int(env[key])
            except ValueError:
                raise UserError(f"{key}={env[key]!r} is not a whole number") from None

        return cls(max_length, template, get("MAX_PIXELS"), get("MIN_PIXELS"), tokenizer_dir,
                   get("IMAGE_MAX_TOKEN_NUM"), get("IMAGE_MIN_TOKEN_NUM"))

    @property
    def family(self) -> "Family":
        return TEMPLATES[self.template]

    @property
    def exact_text(self) -> bool:
        return self.tokenizer_dir is not None

    def image_tokens(self, width: int, height: int) -> int:
        """Tokens the template spends on one image, markers included. ValueError for a refused shape."""
        fam = self.family
        return fam.image_tokens(width, height, self) + fam.per_image

    def text_tokens(self, texts: list[str]) -> int:
        if self.tokenizer_dir is None:
            return sum(len(t.encode("utf-8")) for t in texts) // 4 + len(texts)
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_dir)
        ids = self._tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        return sum(len(i) for i in ids)

    def overhead(self, roles: list[str]) -> int:
        """Chat-format tokens around the turns' text (and the template's default system prompt)."""
        fam = self.family
        has_system = bool(roles) and roles[0] == "system"
        if self.tokenizer_dir is None or fam.skeleton is None:
            return fam.fixed + len(roles) * fam.per_turn + (0 if has_system else fam.default_system)
        prefix, suffix = fam.skeleton
        count = self._count
        total = fam.fixed + sum(count(prefix.format(role=r)) + count(suffix) for r in roles)
        if fam.answer_prefix:  # ms-swift writes it before every assistant turn it trains on
            total += count(fam.answer_prefix) * sum(r == "assistant" for r in roles)
        if not has_system and fam.system_text:
            total += count(prefix.format(role="system")) + count(fam.system_text) + count(suffix)
        return total

    def _count(self, text: str) -> int:
        if text not in self._counts:
            self._counts[text] = self.text_tokens([text])
        return self._counts[text]

    def vision(self) -> dict:
        """The model's own processor settings when a model directory is given (SmolVLM sizes)."""
        if self._vision is None:
            self._vision = {}
            for name in ("preprocessor_config.json", "processor_config.json"):
                path = os.path.join(self.tokenizer_dir or "", name)
                if self.tokenizer_dir and os.path.isfile(path):
                    with open(path) as f:
                        self._vision.update(json.load(f))
        return self._vision


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """qwen_vl_utils' resize: both sides multiples of `factor`, area within [min_pixels, max_pixels]."""
    if max(height, width) / max(1, min(height, width)) > MAX_RATIO:
        raise ValueError(f"aspect ratio {max(height, width) / max(1, min(height, width)):.0f} exceeds {MAX_RATIO}")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = math.floor(height / beta / factor) * factor
        w = math.floor(width / beta / factor) * factor
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def qwen_token_limits(factor: int, budget: TokenBudget) -> tuple[int, int]:
    """(min_pixels, max_pixels) as fetch_image sees them after ms-swift turned MIN/MAX_PIXELS into token counts."""
    max_tokens = budget.image_max_tokens or (budget.max_pixels // factor ** 2 if budget.max_pixels else 16384)
    min_tokens = budget.image_min_tokens or (budget.min_pixels // factor ** 2 if budget.min_pixels else 4)
    return min_tokens * factor ** 2, max_tokens * factor ** 2


def qwen_vl(patch: int, merge: int = 2) -> Callable[[int, int, TokenBudget], int]:
    factor = patch * merge

    def tokens(width: int, height: int, budget: TokenBudget) -> int:
        lo, hi = qwen_token_limits(factor, budget)
        h, w = smart_resize(height, width, factor, lo, hi)
        return (h // factor) * (w // factor)

    return tokens


def smolvlm_tiles(width: int, height: int, longest_edge: int, tile: int) -> tuple[int, int]:
    """(rows, cols) of SmolVLM's image splitting; (0, 0) when the resized image fits one tile."""
    aspect = width / height
    if width >= height:  # longest edge scaled to longest_edge (up or down), the other side kept even
        w, h = longest_edge, int(longest_edge / aspect)
        h += h % 2
    else:
        h, w = longest_edge, int(longest_edge * aspect)
        w += w % 2
    h, w = max(h, 1), max(w, 1)
    if w >= h and w > 4096:  # the processor's absolute cap
        w, h = 4096, max(1, int(4096 / aspect))
    elif h > w and h > 4096:
        h, w = 4096, max(1, int(4096 * aspect))
    rows, cols = math.ceil(h / tile), math.ceil(w / tile)
    return (rows, cols) if rows > 1 or cols > 1 else (0, 0)


def smolvlm(longest_edge: int, tile: int, seq_len: int, per_tile_markers: int):
    """Per tile: <fake_token_around_image><row_r_col_c> + seq_len image tokens; a newline per row; then
    \n<fake><global-img> + seq_len + <fake> for the global image (without the \n when unsplit)."""

    def tokens(width: int, height: int, budget: TokenBudget) -> int:
        v = budget.vision()
        edge = (v.get("size") or {}).get("longest_edge", longest_edge)
        tile_px = (v.get("max_image_size") or {}).get("longest_edge", tile)
        seq = v.get("image_seq_len", seq_len)
        rows, cols = smolvlm_tiles(width, height, edge, tile_px) if v.get("do_image_splitting", True) else (0, 0)
        if rows == 0:
            return seq + 3
        return rows * cols * (seq + per_tile_markers) + rows + seq + 4

    return tokens


def llava_fixed(width: int, height: int, budget: TokenBudget) -> int:
    """LlavaProcessor's count: the processed image's patches, + num_additional_image_tokens (CLIP's class token),
    - 1 when vision_feature_select_strategy is 'default' (it drops that token)."""
    v = budget.vision()
    size = v.get("crop_size") if v.get("do_center_crop") else v.get("size")
    if not (isinstance(size, dict) and {"height", "width"} <= set(size) and v.get("patch_size")):
        raise UserError(f"token budget: {budget.tokenizer_dir} has no llava processor settings (preprocessor_config"
                        f".json size/crop_size, processor_config.json patch_size); is it a llava graft?")
    patch = v["patch_size"]
    tokens = (size["height"] // patch) * (size["width"] // patch) + v.get("num_additional_image_tokens", 0)
    return tokens - (v.get("vision_feature_select_strategy") == "default")


@dataclass(frozen=True)
class Family:
    image_tokens: Callable[[int, int, TokenBudget], int]
    per_image: int  # markers around an image's tokens (<|vision_start|> ... <|vision_end|>)
    per_turn: int  # <|im_start|>role\n ... <|im_end|>\n, in the real model's vocabulary
    default_system: int = 0  # the template's default system prompt, when the row has none
    fixed: int = 0
    skeleton: tuple[str, str] | None = None  # (turn prefix with {role}, turn suffix): counted with a tokenizer
    system_text: str | None = None
    answer_prefix: str | None = None  # written before each assistant turn in training (Qwen3's non-thinking prefix)
    needs_model: bool = False  # the image-token count is read from the model directory


CHATML = ("<|im_start|>{role}\n", "<|im_end|>\n")
QWEN_SYSTEM = "You are a helpful assistant."
LLAMA3 = ("<|start_header_id|>{role}<|end_header_id|>\n\n", "<|eot_id|>")

TEMPLATES: dict[str, Family] = {
    "qwen2_vl": Family(qwen_vl(14), per_image=2, per_turn=5, default_system=11, skeleton=CHATML,
                       system_text=QWEN_SYSTEM),
    "qwen2_5_vl": Family(qwen_vl(14), per_image=2, per_turn=5, default_system=11, skeleton=CHATML,
                         system_text=QWEN_SYSTEM),
    "qwen3_vl": Family(qwen_vl(16), per_image=2, per_turn=5, skeleton=CHATML),
    # graft.host: donor: Qwen2.5-VL's vision (patch 14) in Qwen3's hybrid chat format (no default system prompt)
    "qwen2_5_vl_qwen3": Family(qwen_vl(14), per_image=2, per_turn=5 + 4, skeleton=CHATML,
                               answer_prefix=QWEN3_NON_THINKING_PREFIX),
    "qwen3_5": Family(qwen_vl(16), per_image=2, per_turn=5, skeleton=CHATML),
    # SmolVLM2-256M: 2048 px longest edge, 512 px tiles, 64 tokens each; row tags are text for Qwen3's vocab
    "smolvlm_qwen3": Family(smolvlm(2048, 512, 64, per_tile_markers=8), per_image=0, per_turn=9),
    "idefics3": Family(smolvlm(4 * 364, 364, 169, per_tile_markers=2), per_image=0, per_turn=4),
    # the llava family (plugin llava_graft): the donor's chat format, <|begin_of_text|> fixed for Llama 3
    "llava_qwen3": Family(llava_fixed, per_image=0, per_turn=5 + 4, skeleton=CHATML,
                          answer_prefix=QWEN3_NON_THINKING_PREFIX, needs_model=True),
    "llava_llama3": Family(llava_fixed, per_image=0, per_turn=5, fixed=1, skeleton=LLAMA3, needs_model=True),
}
