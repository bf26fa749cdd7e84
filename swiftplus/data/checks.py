"""Every check one row goes through, and the mechanical repairs; the same code serves lint, --fix and convert.

check() returns the row as it will be written (repaired in place) or None, and its problems as
(kind, message, severity). A valid row costs one pass over its turns and two str.count per turn: this is
the loop that must run at 100k+ rows/s.
"""
from __future__ import annotations

import os

from swiftplus.data import kinds as K
from swiftplus.data.budget import MAX_RATIO, TokenBudget
from swiftplus.data.fastpath import FAST
from swiftplus.data.formats import IMAGE, READERS, TOOL_ROLES, VIDEO, Sample
from swiftplus.data.images import ImageProblem, image_size

E, R, W = K.ERROR, K.REPAIRED, K.WARNING
REMOTE = ("http://", "https://", "data:", "s3://", "oss://")
NOT_PLAIN = REMOTE + ("file://",)
MIN_IMAGE_SIDE = 8


def duplicate_message(key, first: int) -> str:
    return f"id {key!r} was first used on line {first}"


class RowChecker:
    def __init__(self, fmt: str | None, *, data_root: str | None, manifest_dir: str, deep: bool = False,
                 budget: TokenBudget | None = None, check_media: bool = True, min_image_side: int = MIN_IMAGE_SIDE,
                 need_sample: bool = True):
        self.read = READERS.get(fmt) if fmt else None
        self.fast = FAST.get(fmt) if not need_sample and budget is None else None
        self.root = os.path.abspath(data_root) if data_root else None
        self.manifest_dir = manifest_dir
        self.deep, self.budget, self.check_media, self.min_side = deep, budget, check_media, min_image_side
        self.sizes: dict[str, tuple | ImageProblem] = {}  # resolved path -> (w, h) or the problem
        self.exists: dict[str, bool] = {}
        self.ids: dict = {}  # id -> line of its first row
        self.repeats: dict[int, object] = {}  # line -> id, for rows whose id was already used

    def check(self, lineno: int, value, error: str | None):
        """(row to write or None when it must be dropped, problems). With need_sample=False a clean row
        may come back as (None, ()): lint only needs the problems."""
        if self.fast is not None and error is None and type(value) is dict:
            media = self.fast(value)
            if media is not None and ((not media[0] and not media[1]) or self._fast_media(*media)):
                key = value.get("id")
                if key is None or type(key) not in (str, int) or self.ids.setdefault(key, lineno) == lineno:
                    return None, ()
        if error is not None:
            return None, [(K.JSON_ERROR, error, E)]
        if type(value) is not dict:
            return None, [(K.NOT_AN_OBJECT, f"the row is a JSON {type(value).__name__}, not an object", E)]
        if self.read is None:
            return None, [(K.UNKNOWN_FORMAT, f"keys {sorted(value)[:6]} match no known format; pass --format", E)]
        sample, found = self.read(value)
        problems = [(k, m, K.KINDS[k][0]) for k, m in found]
        if sample is None:
            return None, problems
        structure_ok = self._turns(sample, problems)
        self._placeholders(sample, problems)
        if sample.id is not None and type(sample.id) in (str, int):
            first = self.ids.setdefault(sample.id, lineno)
            if first != lineno:
                self.repeats[lineno] = sample.id
                problems.append((K.DUPLICATE_ID, duplicate_message(sample.id, first), W))
        sizes = self._media(sample, problems) if sample.images or sample.videos else ()
        if self.budget is not None and structure_ok:
            self._budget(sample, sizes, problems)
        if problems and any(p[2] == E for p in problems):
            return None, problems
        return sample, problems

    def _turns(self, sample: Sample, problems: list) -> bool:
        turns = sample.turns
        prev = None
        merge = False
        for i, turn in enumerate(turns):
            role, text = turn[0], turn[1]
            if role == "system" and i:
                problems.append((K.BAD_ROLE, f"turn {i} is a system turn; only the first turn may be system", E))
                return False
            if (not text or text.isspace()) and (i or role != "system"):  # system "" turns the default off
                problems.append((K.EMPTY_TURN, f"turn {i} ({role}) is empty", E))
                return False
            if role == prev and role not in TOOL_ROLES:
                merge = True
            prev = role
        if merge:
            merged = [turns[0]]
            for turn in turns[1:]:
                if turn[0] == merged[-1][0] and turn[0] not in TOOL_ROLES:
                    merged[-1] = [turn[0], merged[-1][1] + "\n" + turn[1], *merged[-1][2:]]  # first's loss
                else:
                    merged.append(turn)
            problems.append((K.ROLES_NOT_ALTERNATING, f"consecutive turns from the same side: "
                             f"{'/'.join(t[0] for t in turns)}; merged", R))
            turns[:] = merged
        roles = {t[0] for t in turns}
        if "user" not in roles or "assistant" not in roles:
            problems.append((K.NO_CONVERSATION, f"no {'user' if 'user' not in roles else 'assistant'} turn", E))
            return False
        start = 1 if turns[0][0] == "system" else 0
        if start < len(turns) and turns[start][0] != "user":
            end = start
            while end < len(turns) and turns[end][0] != "user":
                end += 1
            kind_msg = f"the conversation starts with {turns[start][0]}"
            if self._drop(turns, start, end, K.FIRST_NOT_USER, kind_msg, "leading", problems) is False:
                return False
        if turns and turns[-1][0] != "assistant":
            end = len(turns)
            start_tail = end
            while start_tail > 0 and turns[start_tail - 1][0] != "assistant":
                start_tail -= 1
            kind_msg = f"the conversation ends with {turns[-1][0]}"
            if self._drop(turns, start_tail, end, K.LAST_NOT_ASSISTANT, kind_msg, "trailing", problems) is False:
                return False
        if not any(t[0] == "user" for t in turns) or not any(t[0] == "assistant" for t in turns):
            problems.append((K.NO_CONVERSATION, "no user turn followed by an assistant turn is left", E))
            return False
        return True

    @staticmethod
    def _drop(turns, start, end, kind, what, where, problems):
        dropped = turns[start:end]
        if any(IMAGE in t[1] or VIDEO in t[1] for t in dropped):
            problems.append((kind, f"{what}, and those turns hold media placeholders: not repaired", E))
            return False
        del turns[start:end]
        problems.append((kind, f"{what}; dropped {len(dropped)} {where} turn(s)", R))
        return True

    @staticmethod
    def _placeholders(sample: Sample, problems: list) -> None:
        for tag, media, kind in ((IMAGE, sample.images, K.IMAGE_PLACEHOLDER_MISMATCH),
                                 (VIDEO, sample.videos, K.VIDEO_PLACEHOLDER_MISMATCH)):
            n = 0
            for t in sample.turns:
                n += t[1].count(tag)
            if n == len(media):
                continue
            first_user = next((t for t in sample.turns if t[0] == "user"), None)
            if n == 0 and first_user is not None:
                first_user[1] = tag * len(media) + first_user[1]
                problems.append((K.IMPLICIT_PLACEHOLDERS, f"{len(media)} {tag[1:-1]}(s) and no {tag} placeholder; "
                                 f"added before the first user text", R))
            else:
                problems.append((kind, f"{n} {tag} placeholder(s) for {len(media)} {tag[1:-1]}(s)", E))

    def _fast_media(self, images: list, videos: list) -> bool:
        """True when every path is local, resolvable and (if checked) a good image / an existing video."""
        root = self.root
        for path in images:
            if path.startswith(NOT_PLAIN) or (root is None and not path.startswith("/")):
                return False
        for path in videos:
            if path.startswith(NOT_PLAIN) or (root is None and not path.startswith("/")):
                return False
        if not self.check_media:
            return True
        join, min_side = os.path.join, self.min_side
        for path in images:
            size = self._size(path if root is None else join(root, path))
            if isinstance(size, ImageProblem) or min(size) < min_side or max(size) / min(size) > MAX_RATIO:
                return False
        for path in videos:
            if not self._exists(path if root is None else join(root, path)):
                return False
        return True

    def _size(self, path: str):
        size = self.sizes.get(path)
        if size is None:
            try:
                size = image_size(path, self.deep)
            except ImageProblem as e:
                size = e
            self.sizes[path] = size
        return size

    def _resolve(self, path: str, problems: list) -> str | None:
        if path.startswith("file://"):
            path = path[7:]
        if os.path.isabs(path):
            return path
        if self.root is not None:
            return os.path.join(self.root, path)
        beside = os.path.join(self.manifest_dir, path)
        if not self.check_media or self._exists(beside):
            problems.append((K.RELATIVE_PATH_WITHOUT_ROOT, f"{path} is relative and no data_root is set; "
                             f"resolved beside the manifest ({self.manifest_dir})", R))
            return beside
        problems.append((K.RELATIVE_PATH_WITHOUT_ROOT, f"{path} is relative, no data_root is set and it is not "
                         f"beside the manifest either; set data_root", E))
        return None

    def _exists(self, path: str) -> bool:
        found = self.exists.get(path)
        if found is None:
            found = self.exists[path] = os.path.exists(path)
        return found

    def _media(self, sample: Sample, problems: list) -> list:
        sizes = []
        for key, media in (("images", sample.images), ("videos", sample.videos)):
            for i, path in enumerate(media):
                if path.startswith(REMOTE):
                    problems.append((K.REMOTE_MEDIA, f"{path[:60]} is remote or inline: not checked", W))
                    continue
                full = self._resolve(path, problems)
                if full is None:
                    continue
                media[i] = full
                if not self.check_media:
                    continue
                if key == "videos":
                    if not self._exists(full):
                        problems.append((K.MISSING_FILE, f"video {full} does not exist", E))
                    continue
                size = self._size(full)
                if isinstance(size, ImageProblem):
                    problems.append((size.kind, str(size), E))
                    continue
                w, h = size
                if min(w, h) < self.min_side:
                    problems.append((K.IMAGE_TOO_SMALL, f"{full} is {w}x{h}; sides under {self.min_side} px", E))
                elif max(w, h) / min(w, h) > MAX_RATIO:
                    problems.append((K.BAD_ASPECT_RATIO, f"{full} is {w}x{h}: aspect ratio over {MAX_RATIO}", E))
                else:
                    sizes.append(size)
        return sizes

    def _budget(self, sample: Sample, sizes, problems: list) -> None:
        budget = self.budget
        texts = [t[1].replace(IMAGE, "").replace(VIDEO, "") if budget.exact_text else t[1] for t in sample.turns]
        text = budget.text_tokens(texts) + budget.overhead([t[0] for t in sample.turns])
        image = 0
        for size in sizes:
            try:
                image += budget.image_tokens(*size)
            except ValueError as e:
                problems.append((K.BAD_ASPECT_RATIO, f"{budget.template} refuses a {size[0]}x{size[1]} image: {e}", E))
                return
        if text + image > budget.max_length:
            how = "counted" if budget.exact_text else "estimated"
            problems.append((K.OVER_TOKEN_BUDGET, f"{text + image} tokens > max_length {budget.max_length} "
                             f"(text {text} {how}, images {image} at {budget.template}'s pixel budget)", E))
