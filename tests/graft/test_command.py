"""The graft's plan (graft/command.py): decided from configs and headers alone, it names the bytes the graft will
read."""
from swiftplus.graft.command import GraftOptions, plan_graft
from tests.graft.conftest import QK_NORM


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
