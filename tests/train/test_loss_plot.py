"""The loss curve comes from swift's logging.jsonl, appended across resumed attempts."""
import json

from swiftplus.train.loss_plot import draw, read_series


def rows(steps, total=6, offset=0.0):
    return [json.dumps({"loss": 2.0 - s / 10 + offset, "global_step/max_steps": f"{s}/{total}"}) for s in steps]


def test_resumed_steps_keep_their_latest_value(tmp_path):
    log = tmp_path / "logging.jsonl"
    lines = rows([1, 2, 3]) + ['{"loss": 1.0, "global_st'] + rows([3, 4, 5, 6], offset=0.5)
    lines.append(json.dumps({"eval_loss": 1.5, "global_step/max_steps": "6/6"}))
    lines.append(json.dumps({"last_model_checkpoint": "x", "global_step": 6}))  # the summary line
    log.write_text("\n".join(lines) + "\n")
    series = read_series(log)
    assert [s for s, _ in series["loss"]] == [1, 2, 3, 4, 5, 6]
    assert dict(series["loss"])[3] == 2.0 - 0.3 + 0.5
    assert series["eval_loss"] == [(6, 1.5)]


def test_draw_writes_a_png(tmp_path):
    log = tmp_path / "logging.jsonl"
    log.write_text("\n".join(rows(range(1, 7))) + "\n")
    png = draw(log, tmp_path / "loss.png", "stage1 loss")
    assert png == tmp_path / "loss.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logging.jsonl", "loss.png"]


def test_no_loss_no_png(tmp_path):
    assert draw(tmp_path / "absent.jsonl", tmp_path / "loss.png") is None
    assert not (tmp_path / "loss.png").exists()
