"""The four manifest formats the seeds use, each read into one internal shape.

  swift       {"messages": [{"role", "content"}], "images": str | [str], "videos": ...}       (seed 002)
  llava       {"conversations": [{"from": human|gpt, "value"}], "image"/"images", "video"/"videos", "id"}
                                                                                              (seed 001)
  vision-tag  {"conversations": [{"from": user|assistant, "value": "... <|vision_start|>PATH<|vision_end|>"}]}
                                                                                              (seed 003)
  cauldron    {"images": [...], "texts": [{"user", "assistant", "source"?}]}                  (seed 004)

A reader turns a row into a Sample (turns as [role, text] or [role, text, {loss / loss_scale}], roles
user/assistant/system/tool_call/tool_response, `<image>` / `<video>` placeholders, media paths as written) plus
the problems it saw; it never raises on bad data. Swift rows keep the other fields ms-swift reads (tools,
grounding objects, per-message loss, preference fields); media fields swiftplus cannot resolve and carry over
(audios, rejected images) are an error, never a silent loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from swiftplus.data import kinds as K

FORMATS = ("swift", "llava", "vision-tag", "cauldron")
IMAGE, VIDEO = "<image>", "<video>"
VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".flv", ".wmv", ".m4v", ".mpeg", ".mpg", ".gif")

# Tool turns keep ms-swift's two roles; they sit between a user turn and the assistant's answer.
ROLES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "bot": "assistant",
         "system": "system", "tool_call": "tool_call", "function_call": "tool_call", "tool": "tool_response",
         "tool_response": "tool_response", "function_response": "tool_response", "observation": "tool_response"}
TOOL_ROLES = ("tool_call", "tool_response")
# What ms-swift's StdTemplateInputs reads besides messages and media; written through as they are.
CARRIED = ("tools", "objects", "label", "channel", "margin", "rejected_response", "chat_template_kwargs")
MESSAGE_CARRIED = ("loss", "loss_scale")
NOT_CARRIED = ("audios", "audio", "rejected_images", "rejected_videos")


@dataclass
class DatasetSpec:
    """One manifest: its path, its format (auto: detected from its first rows), the root of relative paths."""

    path: str
    format: str = "auto"
    data_root: str | None = None


class Sample:
    __slots__ = ("turns", "images", "videos", "id", "extra")

    def __init__(self, turns, images, videos, id=None, extra=None):
        self.turns: list[list] = turns
        self.images: list[str] = images
        self.videos: list[str] = videos
        self.id = id
        self.extra: dict = extra or {}  # CARRIED fields, written beside messages


Problem = tuple  # (kind, message)
Reader = Callable[[dict], tuple["Sample | None", list]]


def _media(row: dict, keys: tuple[str, str], problems: list) -> list[str]:
    """`images` / `image` as a path or a list of paths (or {"path": ...} dicts, as ms-swift accepts)."""
    found = [k for k in keys if row.get(k) is not None]
    if not found:
        return []
    if len(found) > 1:
        problems.append((K.BAD_MEDIA_FIELD, f"both '{keys[0]}' and '{keys[1]}' are set; keep one"))
    value = row[found[0]]
    items = [value] if isinstance(value, (str, dict)) else value
    if not isinstance(items, list):
        problems.append((K.BAD_MEDIA_FIELD, f"'{found[0]}' is {type(value).__name__}, not a path or list of paths"))
        return []
    out = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("path"), str) and not item.get("bytes"):
            item = item["path"]
        if not isinstance(item, str) or not item.strip():
            problems.append((K.BAD_MEDIA_FIELD, f"'{found[0]}' holds {_show(item)}, not a file path"))
            continue
        out.append(item)
    return out


def _turns(conv, role_key: str, text_key: str, problems: list, field: str) -> list[list[str]] | None:
    if not isinstance(conv, list) or not conv:
        what = "missing" if conv is None else "empty" if conv == [] else f"a {type(conv).__name__}"
        problems.append((K.NO_CONVERSATION, f"'{field}' is {what}; expected a list of turns"))
        return None
    turns = []
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict):
            problems.append((K.MALFORMED_TURN, f"{field}[{i}] is {_show(turn)}, not an object"))
            return None
        role, text = turn.get(role_key), turn.get(text_key)
        if not isinstance(text, str):
            problems.append((K.MALFORMED_TURN, f"{field}[{i}].{text_key} is {_show(text)}, not a string"))
            return None
        norm = ROLES.get(role) if isinstance(role, str) else None
        if norm is None:
            problems.append((K.BAD_ROLE, f"{field}[{i}].{role_key} is {_show(role)}; expected user/assistant/system"))
            return None
        kept = {k: turn[k] for k in MESSAGE_CARRIED if turn.get(k) is not None} if role_key == "role" else None
        turns.append([norm, text, kept] if kept else [norm, text])
    return turns


def read_swift(row: dict):
    problems: list = []
    turns = _turns(row.get("messages"), "role", "content", problems, "messages")
    if turns is not None and isinstance(row.get("system"), str) and turns[0][0] != "system":
        turns.insert(0, ["system", row["system"]])
    images = _media(row, ("images", "image"), problems)
    videos = _media(row, ("videos", "video"), problems)
    for key in NOT_CARRIED:
        if row.get(key):
            problems.append((K.UNSUPPORTED_FIELD, f"'{key}' cannot be carried into the converted file; train on "
                                                  f"this dataset with swift directly, or remove the field"))
    extra = {k: row[k] for k in CARRIED if row.get(k) is not None}
    return (Sample(turns, images, videos, row.get("id"), extra) if turns is not None else None), problems


def read_llava(row: dict):
    problems: list = []
    turns = _turns(row.get("conversations"), "from", "value", problems, "conversations")
    images = _media(row, ("images", "image"), problems)
    videos = _media(row, ("videos", "video"), problems)
    return (Sample(turns, images, videos, row.get("id")) if turns is not None else None), problems


def read_vision_tag(row: dict):
    """Inline `<|vision_start|>PATH<|vision_end|>` becomes a placeholder; videos are told by extension."""
    problems: list = []
    turns = _turns(row.get("conversations"), "from", "value", problems, "conversations")
    if turns is None:
        return None, problems
    images = _media(row, ("images", "image"), problems)
    videos = _media(row, ("videos", "video"), problems)
    for turn in turns:
        text = turn[1]
        if VISION_START not in text:
            continue
        parts, rest = [], text
        while VISION_START in rest:
            before, _, after = rest.partition(VISION_START)
            path, found, rest = after.partition(VISION_END)
            if not found:
                problems.append((K.UNCLOSED_VISION_TAG, f"{VISION_START} without {VISION_END} in {_show(text)}"))
                return None, problems
            path = path.strip()
            is_video = path.lower().endswith(VIDEO_EXTS) and not path.lower().endswith(".gif")
            (videos if is_video else images).append(path)
            parts += [before, VIDEO if is_video else IMAGE]
        turn[1] = "".join(parts) + rest
    return Sample(turns, images, videos, row.get("id")), problems


def read_cauldron(row: dict):
    """Cauldron rows carry no placeholders: the images belong before the first user text."""
    problems: list = []
    texts = row.get("texts")
    if not isinstance(texts, list) or not texts:
        what = "missing" if texts is None else "empty" if texts == [] else f"a {type(texts).__name__}"
        problems.append((K.NO_CONVERSATION, f"'texts' is {what}; expected a list of {{user, assistant}}"))
        return None, problems
    turns = []
    for i, pair in enumerate(texts):
        if not isinstance(pair, dict) or not isinstance(pair.get("user"), str) \
                or not isinstance(pair.get("assistant"), str):
            problems.append((K.MALFORMED_TURN, f"texts[{i}] is {_show(pair)}; expected string user and assistant"))
            return None, problems
        turns += [["user", pair["user"]], ["assistant", pair["assistant"]]]
    images = _media(row, ("images", "image"), problems)
    if images and not any(IMAGE in t[1] for t in turns):
        turns[0][1] = IMAGE * len(images) + turns[0][1]
    return Sample(turns, images, [], row.get("id")), problems


READERS: dict[str, Reader] = {"swift": read_swift, "llava": read_llava, "vision-tag": read_vision_tag,
                              "cauldron": read_cauldron}


def sniff(row: object) -> str | None:
    """The format one row looks like, or None."""
    if not isinstance(row, dict):
        return None
    if "messages" in row:
        return "swift"
    if "texts" in row:
        return "cauldron"
    conv = row.get("conversations")
    if not isinstance(conv, list):
        return None
    turns = [t for t in conv if isinstance(t, dict)]
    if any(isinstance(t.get("value"), str) and VISION_START in t["value"] for t in turns):
        return "vision-tag"
    if any(t.get("from") in ("human", "gpt") for t in turns) \
            or any(k in row for k in ("image", "images", "video", "videos")):
        return "llava"
    return "vision-tag" if any(t.get("from") in ("user", "assistant") for t in turns) else "llava"


def detect(rows) -> str | None:
    """The format of a file from its first valid rows: vision tags anywhere win over llava (their text-only
    rows look the same); otherwise the majority."""
    votes: dict[str, int] = {}
    for row in rows:
        fmt = sniff(row)
        if fmt:
            votes[fmt] = votes.get(fmt, 0) + 1
    if not votes:
        return None
    if "vision-tag" in votes and "llava" in votes and set(votes) <= {"vision-tag", "llava"}:
        return "vision-tag"
    return max(votes, key=votes.get)


def _show(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
