"""The common case first: a row that is certainly clean, recognised without building a Sample.

A fast check returns the row's (images, videos) when its turns strictly alternate user/assistant starting with
the user, no text is empty and the placeholders match the media; anything else (a system turn, a repair,
an error) returns None and the row goes through the full checks, which report exactly what is wrong.
"""
from __future__ import annotations

from swiftplus.data.formats import IMAGE, NOT_CARRIED, VIDEO


def _media(row: dict, key: str, singular: str):
    value = row.get(key)
    if value is None:
        value = row.get(singular)
    elif row.get(singular) is not None:
        return None
    if value is None:
        return []
    if type(value) is str:
        return [value] if value else None
    if type(value) is not list:
        return None
    for item in value:
        if type(item) is not str or not item:
            return None
    return value


def _conversation(row: dict, field: str, role_key: str, text_key: str, users, assistants):
    conv = row.get(field)
    if type(conv) is not list or not conv or len(conv) & 1:
        return None
    images = _media(row, "images", "image")
    videos = _media(row, "videos", "video")
    if images is None or videos is None:
        return None
    n_image = n_video = 0
    it = iter(conv)
    for user in it:
        bot = next(it)
        if type(user) is not dict or type(bot) is not dict:
            return None
        if user.get(role_key) not in users or bot.get(role_key) not in assistants:
            return None
        u, a = user.get(text_key), bot.get(text_key)
        if type(u) is not str or type(a) is not str or not u or not a or u.isspace() or a.isspace():
            return None
        if "<" in u:
            n_image += u.count(IMAGE)
            n_video += u.count(VIDEO)
        if "<" in a:
            n_image += a.count(IMAGE)
            n_video += a.count(VIDEO)
    if n_image != len(images) or n_video != len(videos):
        return None
    return images, videos


def fast_llava(row: dict):
    return _conversation(row, "conversations", "from", "value", ("human", "user"), ("gpt", "assistant"))


def fast_swift(row: dict):
    if "system" in row or any(key in row for key in NOT_CARRIED):  # a system turn to place, or an error
        return None
    return _conversation(row, "messages", "role", "content", ("user",), ("assistant",))


FAST = {"llava": fast_llava, "swift": fast_swift}
