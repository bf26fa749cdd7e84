"""The loss curve of a stage, drawn from swift's OUT/logging.jsonl into a PNG beside it.

logging.jsonl is appended across resumed attempts, so a step logged twice (before a crash and again
after `--resume`) keeps its latest value.
"""
from __future__ import annotations

import json
from pathlib import Path


def read_series(logging_jsonl: Path) -> dict[str, list[tuple[int, float]]]:
    """{'loss': [(step, value), ...], 'eval_loss': [...]} from swift's per-step log lines."""
    series: dict[str, dict[int, float]] = {"loss": {}, "eval_loss": {}}
    try:
        lines = Path(logging_jsonl).read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut off by a kill
        step = _step(row)
        if step is None:
            continue
        for key in series:
            value = row.get(key)
            if isinstance(value, (int, float)):
                series[key][step] = float(value)
    return {k: sorted(v.items()) for k, v in series.items() if v}


def _step(row: dict) -> int | None:
    raw = row.get("global_step/max_steps")
    if isinstance(raw, str) and "/" in raw:
        try:
            return int(raw.split("/")[0])
        except ValueError:
            return None
    return None


def draw(logging_jsonl: Path, png: Path, title: str = "") -> Path | None:
    """Write the PNG (atomically); None when the log holds no loss yet."""
    series = read_series(logging_jsonl)
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for key, points in series.items():
        steps, values = zip(*points)
        ax.plot(steps, values, marker="o" if len(points) < 30 else None, markersize=3, label=key)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png = Path(png)
    tmp = png.with_name(f".{png.stem}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(png)
    return png
