"""`swiftplus rehearse RECIPE`: the shell around command.py's rehearsal recipe.

It learns the machine (GPUs, cores, whether the hub answers), prints every substitution, writes the data
samples, then runs the pipeline's own step functions (graft, swift sft, swift export, swift deploy,
EvalScope) on the rehearsal recipe in runs/<name>/rehearsal/work, timing each and watching GPU memory, and
ends with one table. Each step starts as the real command starts it, with the doctor's preflight for that
step (packages, GPUs and processes, memory, disk), here of the rehearsal recipe: on a GPU node its settings are
the recipe's, so what the real preflight would refuse is refused at the same step; on a CPU machine they are
the CPU equivalents, so nothing asks for a GPU. The table's estimates are the doctor's for the real recipe. On
several nodes every node runs it with its own NODE_RANK: node 0 grafts, serves and evaluates, every node trains,
so the rendezvous is the real job's. It leaves only the report behind.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable, Mapping

from swiftplus.core import hub, lineage, ports, runs, stages
from swiftplus.core.errors import UserError
from swiftplus.core.lineage import init_source
from swiftplus.core.process import interrupting_signals
from swiftplus.data import synthetic
from swiftplus.doctor import probe
from swiftplus.doctor.run import assess, render_problems, summary
from swiftplus.evaluate import results as eval_results
from swiftplus.evaluate import run as evaluation
from swiftplus.export.run import run_export
from swiftplus.fixtures import build as build_fixture
from swiftplus.graft.recipe import graft_recipe
from swiftplus.recipe.load import LoadedRecipe
from swiftplus.rehearse import command, nodes, samples, table
from swiftplus.rehearse.estimate import doctor_estimate
from swiftplus.rehearse.machine import (
    GpuMemory,
    describe,
    detect_machine,
    model_configs,
)
from swiftplus.rehearse.rehearsal import Machine, Rehearsal, render_substitutions
from swiftplus.rehearse.table import FAIL, PASS, StepResult
from swiftplus.serve import server
from swiftplus.serve.backends import check_backend_serves
from swiftplus.serve.command import served_model
from swiftplus.train.run import run_stage, train_log
from swiftplus.train.topology import resolve

LOG_LINES = 25


class StepFailed(Exception):
    def __init__(self, error: str, fix: str | None = None, log: list[str] | None = None):
        super().__init__(error)
        self.error, self.fix, self.log = error, fix, log or []


class Rehearser:
    def __init__(self, real: LoadedRecipe, ref: str, plan: Rehearsal, machine: Machine,
                 node_rank: int, nnodes: int, environ: Mapping[str, str] | None = None):
        self.real, self.ref, self.plan, self.machine = real, ref, plan, machine
        self.environ = dict(os.environ if environ is None else environ)  # the real run's, for the estimates
        self.node_rank, self.nnodes = node_rank, nnodes
        self.loaded: LoadedRecipe | None = None
        self.server: server.Server | None = None
        self.endpoint = None
        self.results: list[StepResult] = []

    @property
    def recipe(self):
        return self.loaded.recipe

    def steps(self) -> list[tuple[str, Callable[[], str | None]]]:
        real = self.real.recipe
        out = [("data", self.data)]
        if real.graft is not None:
            out.append((stages.GRAFT, self.graft))
        out += [(s, lambda s=s: self.train(s)) for s in stages.present(real, stages.TRAIN)]
        if real.export is not None:
            out.append((stages.EXPORT, self.export))
        if real.deploy is not None:
            out.append((stages.DEPLOY, self.deploy))
        if real.eval is not None:
            out.append((stages.EVAL, self.evaluate))
        return out

    def run(self) -> list[StepResult]:
        todo = self.steps()
        real = self.real.recipe
        lookup = probe.lookup_for(real.hub, self.environ)
        self.results = [StepResult(name, estimate=doctor_estimate(real, name, self.environ, self.machine.gpus, lookup))
                        for name, _ in todo]
        try:
            for (name, fn), result in zip(todo, self.results):
                print(f"\n=== swiftplus rehearse: {name} ===", flush=True)
                if not self._step(fn, result):
                    break
        finally:
            if self.server is not None:
                self.server.stop()
        return self.results

    def _step(self, fn, result: StepResult) -> bool:
        started = time.time()
        with GpuMemory(self.machine.gpus > 0) as memory:
            try:
                result.note = fn()
                result.status = PASS
            except StepFailed as e:
                result.status, result.error, result.fix, result.log = FAIL, self._local(e.error), e.fix, e.log
            except UserError as e:
                result.status, result.error = FAIL, self._local(str(e))
            except Exception as e:  # the table must still come out; the step names what broke
                result.status, result.error = FAIL, self._local(f"{type(e).__name__}: {e}")
            except KeyboardInterrupt:
                result.status, result.error = FAIL, "interrupted"
                raise
            finally:
                result.seconds = time.time() - started
        result.peak_gib = memory.peak or None
        if result.error and result.fix:
            result.fix = self._local(result.fix)
        return result.status == PASS

    def _local(self, text: str) -> str:
        """Messages name the sample files, which the rehearsal removes: name the user's own files instead (a
        sample keeps its rows on their lines, so file:line still points at the row)."""
        for s in self.plan.samples:
            text = text.replace(s.dest, s.source)
        return text

    # --- the steps: each is the pipeline's own function on the rehearsal recipe ----------------------------

    def _preflight(self, stage: str) -> None:
        """The checks the real command runs before it starts `stage` (`swiftplus doctor`'s), on the rehearsal."""
        found = assess(self.loaded, [stage], self.plan.environ)
        for w in found.warnings:
            print(f"warning: {w.render()}", flush=True)
        if found.problems:
            raise StepFailed(render_problems(found.problems, f"preflight for {stage}", "Nothing was started."),
                             f"the real `{stages.step_command(self.ref, stage)}` runs the same checks first and would "
                             f"refuse the same way; `{stages.step_command(self.ref, stages.DOCTOR)}` lists them for the real sizes")
        print(f"preflight: ok ({summary(found)})", flush=True)

    def data(self) -> str | None:
        if self.node_rank > 0:  # node 0 owns the work directory: wait until it has written the data
            nodes.wait_for_data(self.plan.work)
        for sample in self.plan.samples:
            if samples.write_sample(sample) == 0:
                raise UserError(f"dataset {sample.source} has no rows")
        for syn in self.plan.synthetic:
            samples.write_synthetic(syn)
        synthetic.ensure(self.recipe)
        for name, path in self.plan.fixtures:
            build_fixture(name, path)
        nodes.data_ready(self.plan.work, self.node_rank)
        return None

    def _graft_done(self) -> bool:
        return lineage.final_checkpoint(self.loaded.recipe, stages.GRAFT) is not None

    def graft(self) -> str | None:
        if self.node_rank > 0:
            nodes.wait_for(self.plan.work, self._graft_done, "node 0's graft")
            return "by node 0"
        self._preflight(stages.GRAFT)
        rc = graft_recipe(self.recipe)
        if rc != 0:
            raise StepFailed(f"the graft exited with status {rc}")
        return None

    def train(self, stage: str) -> str | None:
        self._preflight(stage)  # ranks against GPUs among them: a rank with no device never starts
        source = init_source(self.recipe, stage).stage
        if self.node_rank > 0 and source in stages.TRAIN:
            nodes.wait_for(self.plan.work, lambda: runs.read_complete(runs.stage_dir(self.recipe, source)) is not None,
                           f"{source} to complete on node 0")
        try:
            rc = run_stage(self.loaded, stage, environ=self.plan.environ, ref=self.ref)
        except UserError as e:
            raise self._data_refused(stage) or e
        if rc != 0:
            log = train_log(runs.record_dir(runs.stage_dir(self.recipe, stage), self.node_rank))
            raise self._tool_failed(stage, f"swift sft exited with status {rc}", log)
        return None

    def _data_refused(self, stage: str) -> StepFailed | None:
        """The rows training's data gate refused, with their lines, when that is why the stage did not start."""
        record = runs.record_dir(runs.stage_dir(self.recipe, stage), self.node_rank)
        lint = runs.read_json(runs.lint_record(record))
        if not isinstance(lint, dict) or lint.get("ok") is not False:
            return None
        issues = [i for d in lint["datasets"] for i in d["lint"]["issues"] if i.get("severity") == "error"]
        files = sorted({self._local(i["file"]) for i in issues})
        shown = [f"{i['file']}:{i['line']}: {i['kind']}: {i['message']}" for i in issues[:5]]
        more = f"\n  ... and {len(issues) - 5} more" if len(issues) > 5 else ""
        return StepFailed(f"training refused: the data has errors (in the first {command.SAMPLE_ROWS} rows of each "
                          f"dataset)\n  " + "\n  ".join(shown) + more,
                          f"`swiftplus data lint {' '.join(files)}` lists every bad row of the whole file; fix them "
                          f"(or write a clean copy with --fix --out FILE), or allow a share of bad rows with "
                          f"{stage}.max_bad_fraction in {self.real.path}")

    def export(self) -> str | None:
        if self.node_rank > 0:
            return "on node 0"
        self._preflight(stages.EXPORT)
        rc = run_export(self.loaded, ref=self.ref)
        if rc != 0:
            raise self._tool_failed(stages.EXPORT, f"swift export exited with status {rc}",
                                    runs.stage_dir(self.recipe, stages.EXPORT) / "export.log")
        return None

    def deploy(self) -> str | None:
        """`swiftplus deploy`'s own checks and server (its port checked, never taken), kept up for the evaluation."""
        if self.node_rank > 0:
            return "on node 0"
        self._preflight(stages.DEPLOY)
        served = served_model(self.recipe, None)
        if self.plan.backend:  # the recipe's own backend, even where the rehearsal serves with another
            check_backend_serves(self.plan.backend, served.model)
        try:
            server.refuse_busy_port(server.prepare(self.recipe), self.real.recipe)
        except UserError as e:
            raise StepFailed(str(e), f"the real `{stages.step_command(self.ref, stages.DEPLOY)}` would be refused the same port: stop "
                                     f"what listens there, or set deploy.port in {self.real.path} to a free one")
        # served on a free loopback port: a stopped server holds its port for up to a minute, which would refuse
        # the real deploy started right after the rehearsal
        planned = server.prepare(self.recipe, port=ports.free_port("127.0.0.1"), host="127.0.0.1")
        self.server = server.Server(planned, runs.server_log(self.recipe))
        self.endpoint = self.server.wait_ready()
        print(f"swiftplus rehearse: {self.endpoint.base_url} serves {self.endpoint.model}", flush=True)
        return None

    def evaluate(self) -> str | None:
        if self.node_rank > 0:
            return "on node 0"
        self._preflight(stages.EVAL)
        if self.recipe.deploy is None and self.plan.backend:
            check_backend_serves(self.plan.backend, served_model(self.recipe, None).model)
        url = self.endpoint.base_url if self.endpoint is not None else None
        # the endpoint serves the deploy default: named, so benchmarks that list their `sources` are asked of it
        rows = evaluation.evaluate(self.recipe, [evaluation.source_label(self.recipe, None)], url=url)
        if not rows:
            raise UserError("the evaluation produced no scores")
        print(eval_results.pivot(rows))
        if self.server is not None:
            self.server.stop()
            self.server = None
        return None

    def _tool_failed(self, stage: str, what: str, log: Path) -> StepFailed:
        tail = server.log_tail(log, 200)
        error = table.error_line(tail) or what
        return StepFailed(error, table.fix_pointer(self.real, self.ref, stage, error), tail[-LOG_LINES:])


# --- the verb ------------------------------------------------------------------------------------------------

def rehearse(real: LoadedRecipe, *, ref: str, environ: Mapping[str, str] | None = None, keep: bool = False) -> int:
    environ = dict(os.environ if environ is None else environ)
    recipe = real.recipe
    topo = resolve({**{k: str(v) for k, v in recipe.env.items()}, **environ})
    machine = detect_machine(recipe.hub, environ)
    work = runs.rehearsal_work(recipe).resolve()
    plan = command.rehearsal(recipe, real.data, machine, environ, work=work,
                             fixtures_root=hub.cache_root() / "fixtures",
                             config=model_configs(recipe.hub, environ))
    substitutions = render_substitutions(plan, recipe.name)
    print(substitutions, flush=True)
    started = time.time()
    rehearser = Rehearser(real, ref, plan, machine, topo.node_rank, topo.nnodes, environ)
    interrupted = False
    try:
        with interrupting_signals():
            try:
                rehearser.loaded = nodes.shared_recipe(plan.work, plan.data, topo.node_rank)
                rehearser.run()
            except KeyboardInterrupt:
                interrupted = True
            finally:
                nodes.done(plan.work, topo.node_rank, topo.nnodes, wait=not interrupted)
        results = rehearser.results
        missing = [f"{s.where} ({s.was})" for s in plan.not_rehearsed]
        print("\n" + table.render(results))
        bad = table.failure(results)
        if bad is not None:
            print("\n" + table.explain(bad))
        print("\n" + ("rehearsal interrupted" if interrupted else table.verdict(results, missing)))
        if topo.node_rank == 0:
            node = f", node 0 of {topo.nnodes}" if topo.nnodes > 1 else ""
            text = table.report(recipe.name, substitutions=substitutions, results=results, not_rehearsed=missing,
                                machine=describe(machine) + node, seconds=time.time() - started)
            runs.write_text_atomic(runs.rehearsal_report(recipe), text)
            print(f"rehearsal report: {runs.rehearsal_report(recipe)}"
                  + (f" (its run directory is kept: {work})" if keep else ""))
    finally:
        if topo.node_rank == 0 and not keep:
            shutil.rmtree(work, ignore_errors=True)
    if interrupted:
        return 130
    return 1 if bad is not None else 0
