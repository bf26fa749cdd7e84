"""Tokenizer and processor files of the graft: the donor's tokenizer, the template's image/video processor.

Reads tokenizer.json as JSON (no tokenizers/transformers import), so the vision-token checks run
before any byte is written.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from swiftplus.core.errors import UserError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                   "special_tokens_map.json", "added_tokens.json", "tokenizer.model")
PROCESSOR_FILES = ("preprocessor_config.json", "video_preprocessor_config.json", "processor_config.json")
CHAT_TEMPLATE_FILES = ("chat_template.json", "chat_template.jinja")


@dataclass(frozen=True)
class TokenizerInfo:
    ids: dict[str, int]

    @property
    def length(self) -> int:
        return max(self.ids.values(), default=-1) + 1

    def token_to_id(self, token: str) -> int | None:
        return self.ids.get(token)

    def id_to_token(self, tid: int) -> str | None:
        for tok, i in self.ids.items():
            if i == tid:
                return tok
        return None


def read_tokenizer(model_dir: Path) -> TokenizerInfo | None:
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise UserError(f"{path}: not valid JSON ({e}).") from None
    vocab = (data.get("model") or {}).get("vocab") or {}
    ids = dict(vocab) if isinstance(vocab, dict) else {}
    for tok in data.get("added_tokens") or []:
        ids[tok["content"]] = tok["id"]
    return TokenizerInfo(ids)


def check_tokens(donor_tok: TokenizerInfo, required: dict[str, int], ids: dict[str, int], vocab_size: int) -> None:
    """The donor tokenizer must carry the vision tokens at the ids the graft uses, inside the embedding."""
    for content, tid in required.items():
        have = donor_tok.token_to_id(content)
        if have != tid:
            where = f"at id {have}" if have is not None else "not at all"
            raise UserError(
                f"donor tokenizer has {content} {where}, but the template's model expects it at id {tid}. "
                "A graft that moved it would feed image features to the wrong token; use a donor whose "
                "tokenizer carries the template's vision tokens (e.g. any Qwen2.5/Qwen3 tokenizer).")
    for key, tid in ids.items():
        if tid >= vocab_size:
            raise UserError(f"donor: vocab_size {vocab_size} has no room for the template's {key} {tid}; "
                            "the embedding has no row for the image token. Use a donor with a larger vocabulary.")
    if donor_tok.length > vocab_size:
        raise UserError(f"donor: tokenizer has {donor_tok.length} tokens but the embedding only {vocab_size} rows.")


def pad_token_id(donor_dir: Path, donor_tok: TokenizerInfo | None, donor_cfg: dict, donor_gen: dict | None) -> int | None:
    for src in (donor_cfg, donor_gen or {}):
        if isinstance(src.get("pad_token_id"), int):
            return src["pad_token_id"]
    cfg_path = Path(donor_dir) / "tokenizer_config.json"
    if donor_tok and cfg_path.is_file():
        pad = json.loads(cfg_path.read_text()).get("pad_token")
        if isinstance(pad, dict):
            pad = pad.get("content")
        if isinstance(pad, str):
            return donor_tok.token_to_id(pad)
    return None


def write_tokenizer_files(template_dir: Path, donor_dir: Path, out_dir: Path, *,
                          extra_special_tokens: dict[str, str], chat_template: str | None,
                          copy_processor: bool = True) -> list[str]:
    """Copy the donor's tokenizer and (copy_processor) the template's processor files; returns the names written."""
    written = []
    for name in TOKENIZER_FILES:
        if (Path(donor_dir) / name).is_file():
            shutil.copyfile(Path(donor_dir) / name, out_dir / name)
            written.append(name)
    if not (out_dir / "tokenizer.json").is_file() and not (out_dir / "vocab.json").is_file():
        raise UserError(f"{donor_dir}: no tokenizer files (tokenizer.json or vocab.json + merges.txt).")
    for name in PROCESSOR_FILES if copy_processor else ():
        if (Path(template_dir) / name).is_file():
            shutil.copyfile(Path(template_dir) / name, out_dir / name)
            written.append(name)
    if chat_template is None:
        for name in CHAT_TEMPLATE_FILES:
            if (Path(template_dir) / name).is_file():
                shutil.copyfile(Path(template_dir) / name, out_dir / name)
                written.append(name)
    else:
        (out_dir / "chat_template.jinja").write_text(chat_template)
        written.append("chat_template.jinja")
    tok_cfg_path = out_dir / "tokenizer_config.json"
    if extra_special_tokens or chat_template is not None:
        tok_cfg = json.loads(tok_cfg_path.read_text()) if tok_cfg_path.is_file() else {}
        if extra_special_tokens:
            earlier = tok_cfg.get("extra_special_tokens") or {}
            if isinstance(earlier, list):  # transformers 5 saves the additional special tokens here, as a list
                tok_cfg["additional_special_tokens"] = earlier
                earlier = {}
            tok_cfg["extra_special_tokens"] = {**earlier, **extra_special_tokens}
        if chat_template is not None:
            tok_cfg.pop("chat_template", None)  # one chat template, in chat_template.jinja
        tok_cfg_path.write_text(json.dumps(tok_cfg, indent=2, ensure_ascii=False) + "\n")
    return written
