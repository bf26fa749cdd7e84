"""`swiftplus eval RECIPE [--from SRC | --compare a,b,c] [--endpoint URL] [--limit N]` and `swiftplus perf RECIPE`."""
from __future__ import annotations

from swiftplus.evaluate import perf as perf_run
from swiftplus.evaluate import run as eval_run
from swiftplus.evaluate.config import normalize_limit
from swiftplus.recipe.load import load_recipe


def main(args) -> int:
    recipe = load_recipe(args.recipe, args.overrides).recipe
    sources = eval_run.choose_sources(args.compare, args.source)
    limit = normalize_limit(args.limit) if args.limit is not None else None
    if args.dry_run:
        print(eval_run.dry_run(recipe, sources, limit))
        return 0
    return eval_run.run_eval(recipe, sources, url=args.endpoint, limit=limit)


def perf(args) -> int:
    recipe = load_recipe(args.recipe, args.overrides).recipe
    return perf_run.run_perf(recipe, args.source, url=args.endpoint, parallel=args.parallel, number=args.number,
                             dry_run=args.dry_run)
