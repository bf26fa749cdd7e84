"""The stable names of everything lint can find in a dataset row, and what each one does to the row.

ERROR rows are dropped by `--fix` / convert and count as bad rows; REPAIRED rows are kept after a mechanical
repair (listed in the fixes file); WARNING rows are kept as they are. Names are part of the interface
(`--json` output, fixes files, tests): add new ones, never rename.
"""
from __future__ import annotations

ERROR, REPAIRED, WARNING = "error", "repaired", "warning"

JSON_ERROR = "json_error"
NOT_AN_OBJECT = "not_an_object"
UNKNOWN_FORMAT = "unknown_format"
EMPTY_DATASET = "empty_dataset"
NO_CONVERSATION = "no_conversation"
MALFORMED_TURN = "malformed_turn"
EMPTY_TURN = "empty_turn"
BAD_ROLE = "bad_role"
FIRST_NOT_USER = "first_not_user"
ROLES_NOT_ALTERNATING = "roles_not_alternating"
LAST_NOT_ASSISTANT = "last_not_assistant"
BAD_MEDIA_FIELD = "bad_media_field"
UNCLOSED_VISION_TAG = "unclosed_vision_tag"
IMAGE_PLACEHOLDER_MISMATCH = "image_placeholder_mismatch"
VIDEO_PLACEHOLDER_MISMATCH = "video_placeholder_mismatch"
IMPLICIT_PLACEHOLDERS = "implicit_placeholders"
RELATIVE_PATH_WITHOUT_ROOT = "relative_path_without_root"
MISSING_FILE = "missing_file"
NOT_AN_IMAGE = "not_an_image"
CORRUPT_IMAGE = "corrupt_image"
IMAGE_TOO_SMALL = "image_too_small"
BAD_ASPECT_RATIO = "bad_aspect_ratio"
OVER_TOKEN_BUDGET = "over_token_budget"
REMOTE_MEDIA = "remote_media"
DUPLICATE_ID = "duplicate_id"
UNSUPPORTED_FIELD = "unsupported_field"

# kind -> (severity, what it means / what to do)
KINDS: dict[str, tuple[str, str]] = {
    JSON_ERROR: (ERROR, "the row is not valid JSON"),
    NOT_AN_OBJECT: (ERROR, "the row is JSON but not an object"),
    UNKNOWN_FORMAT: (ERROR, "the row matches none of swift / llava / vision-tag / cauldron; pass --format"),
    EMPTY_DATASET: (ERROR, "the file holds no rows"),
    NO_CONVERSATION: (ERROR, "the conversation field is missing, empty or not a list"),
    MALFORMED_TURN: (ERROR, "a turn is not an object with a role and string content"),
    EMPTY_TURN: (ERROR, "a turn has no text and no media"),
    BAD_ROLE: (ERROR, "a role that is not user/assistant/system/tool, or system after the first turn"),
    FIRST_NOT_USER: (REPAIRED, "the conversation starts with the assistant (repair: drop leading assistant turns)"),
    ROLES_NOT_ALTERNATING: (REPAIRED, "two turns in a row from the same side (repair: merge them)"),
    LAST_NOT_ASSISTANT: (REPAIRED, "the conversation ends with the user (repair: drop trailing user turns)"),
    BAD_MEDIA_FIELD: (ERROR, "images/videos is not a path or a list of paths"),
    UNCLOSED_VISION_TAG: (ERROR, "<|vision_start|> without a matching <|vision_end|>"),
    IMAGE_PLACEHOLDER_MISMATCH: (ERROR, "number of <image> placeholders differs from the number of images"),
    VIDEO_PLACEHOLDER_MISMATCH: (ERROR, "number of <video> placeholders differs from the number of videos"),
    IMPLICIT_PLACEHOLDERS: (REPAIRED, "media but no placeholders (repair: put them before the first user text)"),
    RELATIVE_PATH_WITHOUT_ROOT: (ERROR, "a relative media path and no data_root (repaired when the file is "
                                        "beside the manifest)"),
    MISSING_FILE: (ERROR, "a media file does not exist"),
    NOT_AN_IMAGE: (ERROR, "the file is not an image of a known format"),
    CORRUPT_IMAGE: (ERROR, "the image is truncated or does not decode"),
    UNSUPPORTED_FIELD: (ERROR, "a field ms-swift reads that the converted file cannot carry (audios, rejected "
                               "images or videos)"),
    IMAGE_TOO_SMALL: (ERROR, "the image is smaller than the minimum side"),
    BAD_ASPECT_RATIO: (ERROR, "the image's aspect ratio exceeds what the template's resize accepts"),
    OVER_TOKEN_BUDGET: (ERROR, "text + image tokens exceed max_length: truncation would cut the image"),
    REMOTE_MEDIA: (WARNING, "a URL or inline data: not checked offline"),
    DUPLICATE_ID: (WARNING, "the row's id repeats an earlier row's"),
}

ALL_KINDS = tuple(KINDS)


def severity(kind: str) -> str:
    return KINDS[kind][0]


def is_error(kind: str) -> bool:
    return KINDS[kind][0] == ERROR
