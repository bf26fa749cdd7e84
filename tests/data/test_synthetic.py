"""The demo's colour task: training rows in the prompt EvalScope sends, held-out pictures, and the text twin of
every held-out question (the colour in words, no picture) that EvalScope reads as a text-only question."""
import json
import re

from swiftplus.data import synthetic
from swiftplus.fixtures import colour_lesson

TEMPLATE = colour_lesson.PROMPT_TEMPLATE


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_training_prompt_is_what_evalscope_sends_with_the_picture():
    from evalscope.utils.multi_choices import prompt

    sent = prompt(question=synthetic.QUESTION, choices=list(synthetic.COLOURS), template=TEMPLATE)
    assert synthetic.render_prompt() == sent.replace("<image 1>", "<image>")


def test_text_subset_asks_each_held_out_question_in_words(tmp_path):
    task = synthetic.generate(tmp_path / "task", train=8, evaluate=12, size=28)
    shapes, blank, text = (rows(task.eval_dir / f"{s}_val.jsonl") for s in ("shapes", "blank", "text"))
    assert [r["answer"] for r in text] == [r["answer"] for r in shapes] == [r["answer"] for r in blank]
    assert sorted({r["answer"] for r in text}) == list(colour_lesson.LETTERS)
    for row in text:
        assert not any(key.startswith("image") for key in row)  # a question for a model without eyes
        assert row["question"].endswith(" " + colour_lesson.QUESTION)
        description = row["question"].removesuffix(" " + colour_lesson.QUESTION)
        named = [c for c in colour_lesson.COLOURS if re.search(rf"\b{c}\b", description)]
        assert named == [colour_lesson.COLOURS[colour_lesson.LETTERS.index(row["answer"])]]
        assert colour_lesson.held_out(description.replace(named[0], "{colour}"))  # never taught to the donor
    assert all(r["options"] == list(colour_lesson.COLOURS) for r in text)


def test_evalscope_reads_a_text_row_as_a_question_without_media(tmp_path):
    from evalscope.api.registry import get_benchmark
    from evalscope.config import TaskConfig

    task = synthetic.generate(tmp_path / "task", train=4, evaluate=4, size=28)
    cfg = TaskConfig.from_dict({"model": "m", "api_url": "http://127.0.0.1:1/v1", "eval_type": "openai_api",
                                "datasets": ["general_vmcq"], "dataset_args": {"general_vmcq": {
                                    "local_path": str(task.eval_dir), "subset_list": ["text"],
                                    "prompt_template": TEMPLATE}}})
    row = rows(task.eval_dir / "text_val.jsonl")[0]
    sample = get_benchmark("general_vmcq", cfg).record_to_sample(row)
    (message,) = sample.input
    assert [part.type for part in message.content] == ["text"]
    assert message.content[0].text == colour_lesson.user_prompt(row["question"])
    assert sample.target == row["answer"]


def test_an_older_task_directory_is_written_again(tmp_path):
    task = synthetic.generate(tmp_path / "task", train=4, evaluate=4, size=28)
    marker = json.loads((task.root / "task.json").read_text())
    (task.root / "task.json").write_text(json.dumps({k: v for k, v in marker.items() if k != "format"}))
    (task.eval_dir / "text_val.jsonl").unlink()
    synthetic.generate(tmp_path / "task", train=4, evaluate=4, size=28)
    assert (task.eval_dir / "text_val.jsonl").is_file()
