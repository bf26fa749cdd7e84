"""A synthetic visual task for the offline demo: what colour is the drawn shape?

The answer is in the pixels and nowhere else (shape, size, position and background vary; the
question never does), so accuracy far above chance proves the model reads the image, and the same
questions over blank images must fall back to chance. Training rows use ms-swift's messages format;
evaluation rows use EvalScope's general_vmcq layout, with the exact prompt EvalScope will send, so
the model is trained on what it is asked at evaluation time.

The task's words (colours, question, prompt) are fixtures/colour_lesson.py's, the ones the demo's donor
LLM was taught: the `text` subset asks each held-out question with the colour named in words instead of
drawn (in wordings the donor was never taught), which a language model alone can answer.
"""
from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from swiftplus.core import runs
from swiftplus.fixtures import colour_lesson as words
from swiftplus.fixtures.colour_lesson import LETTERS, PROMPT_TEMPLATE, SHAPES

RGB = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 200, 30)}
COLOURS = {name: RGB[name] for name in words.COLOURS}  # the options, in the order EvalScope lists them
QUESTION = words.IMAGE_QUESTION
BLANK_GREY = (128, 128, 128)
# Bump when what generate() writes changes, so an older task directory is written again.
FORMAT = 2


@dataclass(frozen=True)
class ShapesTask:
    root: Path
    train: Path  # ms-swift jsonl
    eval_dir: Path  # general_vmcq local_path: shapes_val.jsonl, blank_val.jsonl, text_val.jsonl
    subsets: tuple[str, ...] = ("shapes", "blank", "text")


def draw(colour: str, shape: str, rng: random.Random, size: int):
    from PIL import Image, ImageDraw

    base = rng.randint(170, 240)  # greyish, so the shape's colour is the only colour in the image
    bg = tuple(base + rng.randint(-12, 12) for _ in range(3))
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    side = rng.randint(size // 3, int(size * 0.7))
    x0, y0 = rng.randint(0, size - side), rng.randint(0, size - side)
    box = (x0, y0, x0 + side, y0 + side)
    fill = tuple(max(0, min(255, c + rng.randint(-20, 20))) for c in COLOURS[colour])
    if shape == "circle":
        d.ellipse(box, fill=fill)
    elif shape == "square":
        d.rectangle(box, fill=fill)
    else:
        d.polygon([(x0 + side // 2, y0), (x0, y0 + side), (x0 + side, y0 + side)], fill=fill)
    return img


def render_prompt(template: str = PROMPT_TEMPLATE) -> str:
    """The user turn EvalScope sends, with its image placeholder in ms-swift's spelling."""
    return words.user_prompt(QUESTION, template).replace("<image 1>", "<image>")


def _rows(n: int, seed: int, out: Path, split: str, size: int):
    rng = random.Random(seed)
    names = list(COLOURS)
    images = out / "images" / split
    images.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        colour = names[i % len(names)]  # balanced, so chance is exactly 1 / len(COLOURS)
        shape = rng.choice(SHAPES)
        path = images / f"{i:05d}.png"
        draw(colour, shape, rng, size).save(path)
        yield path.resolve(), colour


def generate(root: str | Path, *, train: int = 400, evaluate: int = 100, size: int = 56, seed: int = 0,
             template: str = PROMPT_TEMPLATE) -> ShapesTask:
    """Write the task under root (atomically: a temporary sibling renamed when complete)."""
    from PIL import Image

    root = Path(root).resolve()
    marker = {"train": train, "evaluate": evaluate, "size": size, "seed": seed, "template": template, "format": FORMAT}
    done = root / "task.json"
    task = ShapesTask(root, root / "train.jsonl", root / "eval")
    if done.is_file() and json.loads(done.read_text()) == marker:
        return task
    tmp = root.with_name(f".{root.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    user = render_prompt(template)
    names = list(COLOURS)
    with open(tmp / "train.jsonl", "w") as f:
        for path, colour in _rows(train, seed, tmp, "train", size):
            final = root / path.relative_to(tmp.resolve())
            row = {"messages": [{"role": "user", "content": user},
                                {"role": "assistant", "content": LETTERS[names.index(colour)]}],
                   "images": [str(final)]}
            f.write(json.dumps(row) + "\n")
    (tmp / "eval").mkdir()
    blank_dir = tmp / "images" / "blank"
    blank_dir.mkdir(parents=True)
    Image.new("RGB", (size, size), BLANK_GREY).save(blank_dir / "grey.png")
    blank = str(root / "images" / "blank" / "grey.png")
    described = random.Random(seed + 20_000)
    with open(tmp / "eval" / "shapes_val.jsonl", "w") as f, open(tmp / "eval" / "blank_val.jsonl", "w") as g, \
            open(tmp / "eval" / "text_val.jsonl", "w") as t:
        # a seed far from training's: held-out images never seen in training
        for path, colour in _rows(evaluate, seed + 10_000, tmp, "eval", size):
            final = str(root / path.relative_to(tmp.resolve()))
            row = {"question": QUESTION, "options": names, "answer": LETTERS[names.index(colour)]}
            f.write(json.dumps({**row, "image_1": final}) + "\n")
            g.write(json.dumps({**row, "image_1": blank}) + "\n")
            # the same answer with the colour in words, in a wording the donor was not taught; no picture
            text = words.text_question(words.describe(described, colour, scored=True))
            t.write(json.dumps({**row, "question": text}) + "\n")
    (tmp / "task.json").write_text(json.dumps(marker))
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(root)
    return task


def task_root(recipe) -> Path:
    return runs.task_dir(recipe)


def ensure(recipe) -> ShapesTask | None:
    """Generate the recipe's synthetic task if it has one and it is not there yet (cheap when it is)."""
    spec = recipe.synthetic
    if spec is None:
        return None
    return generate(task_root(recipe), train=spec.train, evaluate=spec.evaluate, size=spec.size, seed=spec.seed,
                    template=spec.prompt_template or PROMPT_TEMPLATE)
