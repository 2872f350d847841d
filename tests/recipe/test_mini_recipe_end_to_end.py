"""The whole monaural recipe, stages 0-8, on a tiny mini corpus in a temporary copy.

Training runs one short epoch per stage: this checks that every stage hands the
next one what it needs (data dirs -> activity -> rendered sets -> teacher ->
distilled encoder -> extractor -> decoded audio -> scores -> RESULTS.md), not
that the model learns (the demo's figures are in the issue notes).
"""
import csv
import json

from recipe_helpers import TINY_TRAINING, make_recipe_copy, run_recipe

TEST_SETS = ("test_m2e2", "test_m3e3")


def test_recipe_stages_0_to_8(tmp_path):
    recipe = make_recipe_copy(tmp_path, TEST_SETS)
    # two training processes (DDP on CPU, as `make demo` runs on 2 cores), two examples each
    args = ["--nj", "2", "--ntrain", "2", "--test-sets", " ".join(TEST_SETS), "--train-args", TINY_TRAINING]
    res = run_recipe(recipe, args)
    assert res.returncode == 0, res.stderr[-4000:]
    assert "Done (stages 0..100)" in res.stderr

    # the default system, proposed: its steps conf/systems/proposed/{4_teacher,5_stage1,6_stage2}.yaml
    for step in ("teacher", "stage1", "stage2"):
        assert (recipe / "exp" / "proposed" / step / "model.pt").is_file(), step
        assert "2 process(es)" in (recipe / "exp" / "proposed" / step / "train.log").read_text(), step
    exp = recipe / "exp" / "proposed" / "stage2"  # the last step's model is decoded and scored
    for set_name in TEST_SETS + tuple(f"{s}_wrong_enroll" for s in TEST_SETS):
        est = (exp / f"decode_{set_name}" / "est.scp").read_text().split("\n")
        assert len([line for line in est if line]) == 4, set_name
        with open(exp / f"score_{set_name}" / "per_utt.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 4 and "si_snri" in rows[0] and "pesq" in rows[0]
        summary = json.loads((exp / f"score_{set_name}" / "summary.json").read_text())
        assert summary["n_examples"] == 4 and summary["si_snri"]["n"] + summary["si_snri"]["undefined"] == 4
    results = (exp / "RESULTS.md").read_text()
    assert "SI-SNRi" in results and "10.14" in results  # our figures beside the paper's
    # the comparison of every system trained so far (a make_results without --compare says so)
    compare = recipe / "exp" / "RESULTS.md"
    if compare.exists():
        assert "proposed" in compare.read_text()
    else:
        assert "has no --compare: exp/RESULTS.md (proposed=exp/proposed/stage2) not written" in res.stderr

    # Re-running a finished recipe is safe and quick: every stage finds its work done.
    res = run_recipe(recipe, args + ["--stage", "1"], timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
