"""The graft's plan (graft/command.py): decided from configs and headers alone, it names the bytes the graft will
read, and `swiftplus graft --dry-run` prints it without importing torch or writing anything."""
import os
import subprocess
import sys

from swiftplus.graft.command import GraftOptions, plan_graft
from tests.graft.conftest import QK_NORM
from tests.helpers import REPO


def test_the_plan_reads_exactly_the_tensors_it_copies(built):
    template, donor = built("qwen2.5-vl"), built("qwen3")
    plan = plan_graft(template, donor, GraftOptions(allow_dropped=QK_NORM, merger_init="crop-copy"))
    reads = plan.reads()
    copied = {(r.source, r.source_name) for r in plan.weights.rows if r.source in ("template", "donor")}
    cropped = [r for r in plan.weights.rows if r.source == "fresh" and r.source_name]
    assert cropped
    named = {(("template" if f.parent == template else "donor"), r.tensor) for f, rs in reads.items() for r in rs}
    assert named == copied | {("template", r.source_name) for r in cropped}
    for f, rs in reads.items():
        assert [r.start for r in rs] == sorted(r.start for r in rs)
        assert all(r.start < r.end <= f.stat().st_size for r in rs)
    # a crop-copy reads the rows it keeps, and the dropped / replaced tensors are never read
    for row in cropped:
        crop = next(r for rs in reads.values() for r in rs if r.tensor == row.source_name)
        info = plan.template.tensors[row.source_name]
        kept = min(row.shape[0], info.shape[0])
        assert crop.start == info.start and crop.end - crop.start == info.nbytes * kept // info.shape[0]
    unread = {("donor", d.name) for d in plan.weights.dropped} | {("template", n) for n in plan.weights.replaced}
    assert plan.weights.dropped and plan.weights.replaced and not unread & named


def test_dry_run_prints_the_plan_of_local_models_without_torch(built, tmp_path):
    template, donor = built("qwen3-vl"), built("qwen3-tied")
    recipe = tmp_path / "g.yaml"
    recipe.write_text(f"name: g\nrun_dir: {tmp_path / 'runs'}\nswift: {{model_type: qwen3_vl, template: qwen3_vl}}\n"
                      f"graft: {{template: {template}, donor: {donor}}}\n")
    code = ("import sys; from swiftplus.cli import main; rc = main(['graft', sys.argv[1], '--dry-run']); "
            "print('torch imported:', 'torch' in sys.modules); sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, str(recipe)], cwd=REPO, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "graft plan: family qwen3_vl (hub layout);" in r.stdout
    assert "of the template's weights (1 file(s))" in r.stdout and "torch imported: False" in r.stdout
    assert not (tmp_path / "runs").exists()
