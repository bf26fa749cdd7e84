"""`swiftplus eval RECIPE [--from SRC | --compare a,b,c] [--endpoint URL] [--limit N]` and `swiftplus perf RECIPE`."""
from __future__ import annotations

from pathlib import Path

from swiftplus.errors import UserError
from swiftplus.recipe import load_recipe


def _print(renderable) -> None:
    from rich.console import Console

    Console(width=160).print(renderable)


def _sources(args) -> list[str | None]:
    if args.compare:
        if args.source:
            raise UserError("--from and --compare both choose what to evaluate; use one")
        chosen = [s.strip() for s in args.compare.split(",") if s.strip()]
        if not chosen:
            raise UserError("--compare needs a comma-separated list, e.g. graft,stage1,stage2")
        return chosen
    return [args.source]


def main(args) -> int:
    from swiftplus import evaluate
    from swiftplus.eval_config import normalize_limit

    recipe = load_recipe(args.recipe, args.overrides).recipe
    limit = normalize_limit(args.limit) if args.limit is not None else None
    if args.dry_run:
        return _dry_run(recipe, _sources(args), limit)
    from swiftplus.synthetic import ensure

    ensure(recipe)
    rows = evaluate.evaluate(recipe, _sources(args), url=args.endpoint, limit=limit)
    _print(evaluate.table(rows))
    for line in evaluate.failures(rows):
        print(f"warning: {line}")
    out = evaluate.eval_dir(recipe)
    print(f"results: {out / 'results.json'} and {out / 'results.md'}")
    return 0


def _dry_run(recipe, sources, limit) -> int:
    import json

    from swiftplus import evaluate
    from swiftplus.deploy import Endpoint
    from swiftplus.deploy_command import served_name

    evaluate.require_eval(recipe)
    for source in sources:
        label = evaluate.source_label(recipe, source)
        endpoint = Endpoint("http://127.0.0.1:<port>/v1", served_name(recipe))
        tasks = evaluate.tasks_for(recipe, endpoint, evaluate.eval_dir(recipe) / label, limit)
        print(f"# {label}: EvalScope task configs (the endpoint is started on a free loopback port)")
        print(json.dumps([t.config for t in tasks], indent=2))
    return 0


def perf(args) -> int:
    from swiftplus import perf as perfmod
    from swiftplus import runs
    from swiftplus.deploy import serving
    from swiftplus.deploy_command import served_model
    from swiftplus.process import run

    recipe = load_recipe(args.recipe, args.overrides).recipe
    perfmod.check_installed()
    settings = perfmod.settings(args.parallel, args.number)
    # requests are built with the served model's tokenizer: checked before any server starts
    tokenizer = served_model(recipe, args.source).model
    if not Path(tokenizer).is_dir():
        raise UserError(f"perf builds its requests with the served model's tokenizer, but {tokenizer} is not a local "
                        "directory; pass --from PATH with the checkpoint the endpoint serves")
    perfmod.check_tokenizer(tokenizer)
    out = runs.run_root(recipe) / "perf"
    if args.dry_run:
        from swiftplus.argv import shell_line
        from swiftplus.deploy_command import served_name

        url = args.endpoint or "http://127.0.0.1:<free port>/v1"
        print(shell_line(perfmod.perf_argv(url, served_name(recipe), tokenizer, out / "evalscope", settings)))
        return 0
    import shutil

    # evalscope perf refuses to write over an earlier run's database, and read_results must see only this run
    shutil.rmtree(out / "evalscope", ignore_errors=True)
    with serving(recipe, args.source, url=args.endpoint, log_dir=out) as endpoint:
        argv = perfmod.perf_argv(endpoint.base_url, endpoint.model, tokenizer, out / "evalscope", settings,
                                 endpoint.api_key)
        rc, tail = run(argv, log=out / "perf.log", echo=False)
    if rc != 0:
        raise UserError(f"evalscope perf failed (exit status {rc}); last lines of {out / 'perf.log'}:\n"
                        + "\n".join(tail[-20:]))
    rows = perfmod.read_results(out / "evalscope")
    runs.write_json_atomic(out / "summary.json", {"endpoint": endpoint.base_url, "model": endpoint.model,
                                                  "settings": settings.__dict__, "rows": rows})
    _print(perfmod.table(rows))
    print(f"summary: {out / 'summary.json'}; EvalScope's full report: {out / 'evalscope'}")
    return 0
