"""Each kind of broken row, put between two good rows, is reported with its kind on the line it starts on,
in JSON Lines and in indented JSON arrays alike; the good rows around it stay clean."""
import json

import pytest

from swiftplus.data import DatasetSpec, TokenBudget, lint_dataset
from swiftplus.data import kinds as K


def llava(*turns, **extra):
    roles = {"u": "human", "a": "gpt"}
    return {"conversations": [{"from": roles.get(r, r), "value": v} for r, v in turns], **extra}


GOOD = {
    "llava": [llava(("u", "<image>\nWhat is it?"), ("a", "A mug."), id="g1", images=["images/a.jpg"]),
              llava(("u", "Hello"), ("a", "Hi."), id="g2")],
    "vision-tag": [{"conversations": [{"from": "user", "value": "COCO: <|vision_start|>images/a.jpg<|vision_end|>"},
                                      {"from": "assistant", "value": "A mug."}]}] * 2,
    "swift": [{"messages": [{"role": "user", "content": "<image>Hi"}, {"role": "assistant", "content": "Yo"}],
               "images": ["images/b.png"]}] * 2,
    "cauldron": [{"images": ["images/a.jpg"], "texts": [{"user": "What?", "assistant": "A mug."}]}] * 2,
    "text-only": [llava(("u", "Hello"), ("a", "Hi.")), llava(("u", "Bye"), ("a", "Bye."))],
}

# (kind, severity, file format, broken row (a str is written verbatim), lint options)
CASES = [
    (K.JSON_ERROR, K.ERROR, "llava", '{"conversations": [{"from": "human", "value": "hi"}, }', {}),
    (K.NOT_AN_OBJECT, K.ERROR, "llava", [1, 2, 3], {}),
    (K.NO_CONVERSATION, K.ERROR, "llava", {"id": "x", "conversations": []}, {}),
    (K.MALFORMED_TURN, K.ERROR, "llava", llava(("u", 3), ("a", "x")), {}),
    (K.MALFORMED_TURN, K.ERROR, "swift", {"messages": [{"role": "user", "content": [{"type": "text"}]},
                                                       {"role": "assistant", "content": "x"}]}, {}),
    (K.EMPTY_TURN, K.ERROR, "llava", llava(("u", "Hello"), ("a", "   ")), {}),
    (K.BAD_ROLE, K.ERROR, "llava", llava(("narrator", "Once"), ("a", "x")), {}),
    (K.BAD_ROLE, K.ERROR, "swift", {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"},
                                                 {"role": "assistant", "content": "c"}]}, {}),
    (K.FIRST_NOT_USER, K.REPAIRED, "llava", llava(("a", "Hello!"), ("u", "Hi"), ("a", "How can I help?")), {}),
    (K.FIRST_NOT_USER, K.ERROR, "llava", llava(("a", "<image>Look"), ("u", "Hi"), ("a", "x"),
                                               images=["images/a.jpg"]), {}),
    (K.ROLES_NOT_ALTERNATING, K.REPAIRED, "llava", llava(("u", "one"), ("u", "two"), ("a", "three")), {}),
    (K.LAST_NOT_ASSISTANT, K.REPAIRED, "llava", llava(("u", "q"), ("a", "r"), ("u", "and?")), {}),
    (K.BAD_MEDIA_FIELD, K.ERROR, "llava", llava(("u", "<image>x"), ("a", "y"), images=5), {}),
    (K.BAD_MEDIA_FIELD, K.ERROR, "swift", {"messages": [{"role": "user", "content": "<image>x"},
                                                        {"role": "assistant", "content": "y"}], "images": [None]}, {}),
    (K.UNCLOSED_VISION_TAG, K.ERROR, "vision-tag",
     {"conversations": [{"from": "user", "value": "COCO: <|vision_start|>images/a.jpg"},
                        {"from": "assistant", "value": "x"}]}, {}),
    (K.IMAGE_PLACEHOLDER_MISMATCH, K.ERROR, "llava", llava(("u", "<image><image>x"), ("a", "y"),
                                                           images=["images/a.jpg"]), {}),
    (K.IMAGE_PLACEHOLDER_MISMATCH, K.ERROR, "cauldron", {"images": ["images/a.jpg"],
                                                         "texts": [{"user": "<image><image>?", "assistant": "y"}]}, {}),
    (K.VIDEO_PLACEHOLDER_MISMATCH, K.ERROR, "llava", llava(("u", "<video>x"), ("a", "y"),
                                                           videos=["clip.mp4", "clip.mp4"]), {}),
    (K.IMPLICIT_PLACEHOLDERS, K.REPAIRED, "llava", llava(("u", "What?"), ("a", "y"), images=["images/a.jpg"]), {}),
    (K.RELATIVE_PATH_WITHOUT_ROOT, K.ERROR, "llava", llava(("u", "<image>x"), ("a", "y"),
                                                           images=["images/a.jpg"]), {"data_root": False,
                                                                                      "good": "text-only"}),
    (K.MISSING_FILE, K.ERROR, "llava", llava(("u", "<image>x"), ("a", "y"), images=["images/nope.jpg"]), {}),
    (K.MISSING_FILE, K.ERROR, "llava", llava(("u", "<video>x"), ("a", "y"), videos=["nope.mp4"]), {}),
    (K.NOT_AN_IMAGE, K.ERROR, "llava", llava(("u", "<image>x"), ("a", "y"), images=["images/notes.jpg"]), {}),
    (K.CORRUPT_IMAGE, K.ERROR, "llava", llava(("u", "<image>x"), ("a", "y"), images=["images/cut.jpg"]), {}),
    (K.IMAGE_TOO_SMALL, K.ERROR, "llava", llava(("u", "<image>x"), ("a", "y"), images=["images/tiny.png"]), {}),
    (K.BAD_ASPECT_RATIO, K.ERROR, "llava", llava(("u", "<image>x"), ("a", "y"), images=["images/strip.png"]), {}),
    (K.OVER_TOKEN_BUDGET, K.ERROR, "llava", llava(("u", "<image>x"), ("a", "y"), images=["images/big.png"]),
     {"budget": (1024, "qwen2_vl")}),
    (K.OVER_TOKEN_BUDGET, K.ERROR, "swift", {"messages": [{"role": "user", "content": "word " * 2000},
                                                          {"role": "assistant", "content": "y"}]},
     {"budget": (1024, "qwen2_5_vl")}),
    (K.REMOTE_MEDIA, K.WARNING, "llava", llava(("u", "<image>x"), ("a", "y"), images=["https://example.com/a.jpg"]),
     {}),
    (K.DUPLICATE_ID, K.WARNING, "llava", llava(("u", "x"), ("a", "y"), id="g1"), {}),
    (K.UNSUPPORTED_FIELD, K.ERROR, "swift", {"messages": [{"role": "user", "content": "<audio>x"},
                                                          {"role": "assistant", "content": "y"}],
                                             "audios": ["a.wav"]}, {}),
]
IDS = [f"{kind}-{sev}-{fmt}" for kind, sev, fmt, _, _ in CASES]


@pytest.mark.parametrize("array", [False, True], ids=["jsonl", "json"])
@pytest.mark.parametrize("kind,severity,fmt,row,options", CASES, ids=IDS)
def test_broken_row_reported_on_its_line(kind, severity, fmt, row, options, array, manifest, media):
    good = GOOD[options.get("good", fmt)]
    rows = [good[0], row, good[1]]
    path, starts = manifest(rows, array=array)
    root = None if options.get("data_root") is False else str(media)
    budget = TokenBudget(*options["budget"]) if "budget" in options else None
    report = lint_dataset([DatasetSpec(str(path), data_root=root)], budget=budget)

    assert report.rows == 3
    assert report.files[0]["format"] == fmt
    found = [(i.line, i.kind, i.severity) for i in report.issues]
    assert (starts[1], kind, severity) in found, report.issues
    assert {i.line for i in report.issues} == {starts[1]}, "the good rows around it must stay clean"
    assert report.counts[kind] == 1
    assert report.bad_rows == (1 if severity == K.ERROR else 0)
    assert report.repaired_rows == (1 if severity == K.REPAIRED else 0)


def test_at_least_fifteen_kinds_covered():
    assert len({kind for kind, *_ in CASES}) >= 15
    assert {kind for kind, *_ in CASES} | {K.UNKNOWN_FORMAT, K.EMPTY_DATASET} == set(K.ALL_KINDS)


def test_unknown_format_every_row(manifest):
    path, starts = manifest([{"question": "q", "answer": "a"}, {"question": "q2", "answer": "b"}])
    report = lint_dataset([DatasetSpec(str(path))])
    assert report.files[0]["format"] is None and not report.ok
    assert [(i.line, i.kind) for i in report.issues] == [(starts[0], K.UNKNOWN_FORMAT), (starts[1], K.UNKNOWN_FORMAT)]


@pytest.mark.parametrize("text", ["", "\n\n", "[]", "[\n]\n"])
def test_empty_dataset(text, tmp_path):
    path = tmp_path / ("e.json" if "[" in text else "e.jsonl")
    path.write_text(text)
    report = lint_dataset([DatasetSpec(str(path), "llava")])
    assert report.rows == 0 and not report.ok and report.counts == {K.EMPTY_DATASET: 1}


def test_several_problems_in_one_row_all_reported(manifest, media):
    row = llava(("a", "<image>Look"), ("u", "Hi"), ("a", "x"), id="g1", images=["images/nope.jpg"])
    path, starts = manifest([GOOD["llava"][0], row])
    report = lint_dataset([DatasetSpec(str(path), data_root=str(media))])
    assert {i.kind for i in report.issues} == {K.FIRST_NOT_USER, K.DUPLICATE_ID, K.MISSING_FILE}
    assert report.bad_rows == 1


def test_deep_decode_catches_what_the_header_cannot(manifest, media):
    # a PNG whose pixel data is garbage but whose header and IEND chunk are intact
    png = (media / "images" / "b.png").read_bytes()
    idat = png.index(b"IDAT")
    broken = png[: idat + 8] + bytes(len(png) - idat - 8 - 12) + png[-12:]
    (media / "images" / "garbage.png").write_bytes(broken)
    path, starts = manifest([llava(("u", "<image>x"), ("a", "y"), images=["images/garbage.png"])])
    spec = DatasetSpec(str(path), data_root=str(media))
    assert lint_dataset([spec]).ok
    deep = lint_dataset([spec], deep=True)
    assert [(i.line, i.kind) for i in deep.issues] == [(starts[0], K.CORRUPT_IMAGE)]


@pytest.mark.parametrize("turns", [[("a", "only me")], [("u", "only me")], [("system", "rules")],
                                   [("a", "hi"), ("u", "there")], [("system", "rules"), ("a", "x"), ("u", "y")]])
def test_conversations_with_nothing_to_train_on(turns, manifest):
    path, starts = manifest([llava(*turns)])
    report = lint_dataset([DatasetSpec(str(path))])
    assert report.bad_rows == 1 and K.NO_CONVERSATION in report.counts, report.issues


def test_one_pretty_printed_object_is_a_user_error(tmp_path):
    from swiftplus.core.errors import UserError

    path = tmp_path / "m.json"
    path.write_text(json.dumps({"data": [llava(("u", "q"), ("a", "r"))]}, indent=2))
    with pytest.raises(UserError, match="one pretty-printed JSON object"):
        lint_dataset([DatasetSpec(str(path))])
