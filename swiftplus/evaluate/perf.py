"""`evalscope perf` against an endpoint: image requests at several concurrencies, for sizing a deployment.

Requests come from EvalScope's random_vl set (a random prompt of the model's own tokens plus random
images), so no data set has to be downloaded; it needs the served model's tokenizer directory.
"""
from __future__ import annotations

import importlib.util
import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from swiftplus.core import runs
from swiftplus.core.argv import shell_line
from swiftplus.core.errors import UserError
from swiftplus.core.process import run
from swiftplus.core.secrets import KEY_ENV
from swiftplus.recipe.schema import Recipe
from swiftplus.serve.command import served_model, served_name
from swiftplus.serve.server import serving

INSTALL = "pip install 'evalscope[perf]'  (or: pip install -e '.[perf]')"


@dataclass
class PerfSettings:
    parallel: list[int]
    number: list[int]
    image_size: int = 448
    images: int = 1
    prompt_tokens: tuple[int, int] = (64, 256)
    max_tokens: int = 128


def settings(parallel: list[int] | None, number: list[int] | None) -> PerfSettings:
    parallel = parallel or [1, 4]
    if any(p < 1 for p in parallel):
        raise UserError("--parallel must be at least 1")
    if number and len(number) != len(parallel):
        raise UserError(f"give one --number per --parallel ({len(parallel)} parallel, {len(number)} number)")
    return PerfSettings(parallel, number or [max(8, 4 * p) for p in parallel])


def check_installed() -> None:
    if importlib.util.find_spec("sse_starlette") is None or importlib.util.find_spec("evalscope") is None:
        raise UserError(f"`swiftplus perf` needs EvalScope's perf extra, which is not installed: {INSTALL}")


def has_chat_template(model_dir: str | Path) -> bool:
    d = Path(model_dir)
    if (d / "chat_template.jinja").is_file() or (d / "chat_template.json").is_file():
        return True
    try:
        return bool(json.loads((d / "tokenizer_config.json").read_text()).get("chat_template"))
    except (OSError, ValueError):
        return False


def check_tokenizer(model_dir: str | Path) -> None:
    """evalscope perf counts prompt tokens with the tokenizer's chat template; without one it fails mid-run."""
    if not has_chat_template(model_dir):
        raise UserError(f"{model_dir} has no chat template (chat_template.jinja or tokenizer_config.json's "
                        "chat_template), which evalscope perf needs to count prompt tokens; copy the template "
                        "model's chat_template.jinja into it")


# evalscope perf takes the key only as --api-key; it is appended inside the child, from its environment, so it
# shows in no argv (ps).
PERF_RUNNER = (f"import os, sys\nkey = os.environ.pop({KEY_ENV!r}, None)\nsys.argv += ['--api-key', key] if key else []\n"
               "from evalscope.cli.cli import run_cmd\nrun_cmd()\n")


def perf_argv(base_url: str, model: str, tokenizer: str, out_dir: Path, s: PerfSettings) -> list[str]:
    """The evalscope perf command; an API key goes in its environment (perf_env), not here."""
    return [sys.executable, "-c", PERF_RUNNER, "perf",
            "--url", f"{base_url.rstrip('/')}/chat/completions", "--api", "openai", "--model", model,
            "--dataset", "random_vl", "--tokenizer-path", tokenizer,
            "--image-width", str(s.image_size), "--image-height", str(s.image_size), "--image-num", str(s.images),
            "--min-prompt-length", str(s.prompt_tokens[0]), "--max-prompt-length", str(s.prompt_tokens[1]),
            "--max-tokens", str(s.max_tokens), "--min-tokens", str(s.max_tokens),
            "--parallel", *map(str, s.parallel), "--number", *map(str, s.number),
            "--outputs-dir", str(out_dir), "--no-timestamp"]


def _finite(v):
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def read_results(out_dir: Path) -> list[dict]:
    """One row per concurrency from EvalScope's benchmark_summary.json / benchmark_percentile.json."""
    rows = []
    for summary_file in Path(out_dir).rglob("benchmark_summary.json"):
        summary = json.loads(summary_file.read_text())
        pct_file = summary_file.with_name("benchmark_percentile.json")
        pct = {r.get("Percentiles"): r for r in json.loads(pct_file.read_text())} if pct_file.is_file() else {}

        def at(p, key):
            return _finite(pct.get(p, {}).get(key))

        rows.append({
            "parallel": summary.get("Concurrency"), "requests": summary.get("Total Requests"),
            "succeeded": summary.get("Success Requests"), "failed": summary.get("Failed Requests"),
            "req_per_s": _finite(summary.get("Req Throughput (req/s)")),
            "output_tok_per_s": _finite(summary.get("Output Throughput (tok/s)")),
            "latency_avg_s": _finite(summary.get("Avg Latency (s)")),
            "latency_p50_s": at("50%", "Latency (s)"), "latency_p90_s": at("90%", "Latency (s)"),
            "latency_p99_s": at("99%", "Latency (s)"),
            "ttft_p50_ms": at("50%", "TTFT (ms)"), "ttft_p99_ms": at("99%", "TTFT (ms)"),
        })
    if not rows:
        raise UserError(f"evalscope perf wrote no benchmark_summary.json under {out_dir}")
    return sorted(rows, key=lambda r: r["parallel"] or 0)


HEADERS = {"succeeded": "ok", "req_per_s": "req/s", "output_tok_per_s": "out tok/s", "latency_avg_s": "lat avg s",
           "latency_p50_s": "p50 s", "latency_p90_s": "p90 s", "latency_p99_s": "p99 s", "ttft_p50_ms": "TTFT p50 ms",
           "ttft_p99_ms": "TTFT p99 ms"}


def table(rows: list[dict]):
    from rich.table import Table

    t = Table(title="evalscope perf")
    keys = list(rows[0])
    for k in keys:
        t.add_column(HEADERS.get(k, k), justify="right")
    for r in rows:
        t.add_row(*("-" if r[k] is None else f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys))
    return t


def run_perf(recipe: Recipe, source: str | None = None, *, url: str | None = None, parallel: list[int] | None = None,
             number: list[int] | None = None, dry_run: bool = False) -> int:
    """`swiftplus perf`: evalscope perf against the recipe's endpoint (started here unless `url` is given)."""
    check_installed()
    s = settings(parallel, number)
    # requests are built with the served model's tokenizer: checked before any server starts
    tokenizer = served_model(recipe, source).model
    if not Path(tokenizer).is_dir():
        raise UserError(f"perf builds its requests with the served model's tokenizer, but {tokenizer} is not a local "
                        "directory; pass --from PATH with the checkpoint the endpoint serves")
    check_tokenizer(tokenizer)
    out = runs.perf_dir(recipe)
    if dry_run:
        print(shell_line(perf_argv(url or "http://127.0.0.1:<free port>/v1", served_name(recipe), tokenizer,
                                   out / "evalscope", s)))
        return 0
    # evalscope perf refuses to write over an earlier run's database, and read_results must see only this run
    shutil.rmtree(out / "evalscope", ignore_errors=True)
    with serving(recipe, source, url=url, log_dir=out) as endpoint:
        argv = perf_argv(endpoint.base_url, endpoint.model, tokenizer, out / "evalscope", s)
        rc, tail = run(argv, env={KEY_ENV: endpoint.api_key} if endpoint.api_key else None, log=out / "perf.log",
                       echo=False)
    if rc != 0:
        raise UserError(f"evalscope perf failed (exit status {rc}); last lines of {out / 'perf.log'}:\n"
                        + "\n".join(tail[-20:]))
    rows = read_results(out / "evalscope")
    runs.write_json_atomic(out / "summary.json", {"endpoint": endpoint.base_url, "model": endpoint.model,
                                                  "settings": s.__dict__, "rows": rows})
    print_table(table(rows))
    print(f"summary: {out / 'summary.json'}; EvalScope's full report: {out / 'evalscope'}")
    return 0


def print_table(renderable) -> None:
    from rich.console import Console

    Console(width=160).print(renderable)
