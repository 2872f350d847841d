"""--seed N: every training step of the system gets seed=N and writes into $exp/<system>_seedN/
(the next step reads the previous one there); without --seed, the configs' seeds and $exp/<system>/."""
import yaml
from recipe_helpers import TINY_TRAINING, make_recipe_copy, run_recipe


def test_seed_option_seeds_every_step_in_its_own_folder(tmp_path):
    recipe = make_recipe_copy(tmp_path, ("test_m2e2",), num_examples=3)
    res = run_recipe(recipe, ["--stop-stage", "3", "--nj", "2"])
    assert res.returncode == 0, res.stderr[-4000:]
    res = run_recipe(recipe, ["--stage", "4", "--stop-stage", "5", "--ntrain", "1", "--seed", "7",
                              "--train-args", TINY_TRAINING])
    assert res.returncode == 0, res.stderr[-4000:]
    exp = recipe / "exp"
    assert not (exp / "proposed").exists()
    for step in ("teacher", "stage1"):
        saved = yaml.safe_load((exp / "proposed_seed7" / step / "config.yaml").read_text())
        assert saved["seed"] == 7, step
    stage1 = yaml.safe_load((exp / "proposed_seed7" / "stage1" / "config.yaml").read_text())
    assert stage1["task"]["teacher"]["path"] == "exp/proposed_seed7/teacher/model.pt"

    res = run_recipe(recipe, ["--stage", "4", "--stop-stage", "4", "--ntrain", "1", "--train-args", TINY_TRAINING])
    assert res.returncode == 0, res.stderr[-4000:]
    saved = yaml.safe_load((exp / "proposed" / "teacher" / "config.yaml").read_text())
    assert saved["seed"] == 0  # the config's own

    # stages 6-8 of the seeded run: stage 8 writes the table over the system's seed runs, with its check
    res = run_recipe(recipe, ["--stage", "6", "--ntrain", "1", "--seed", "7", "--train-args", TINY_TRAINING,
                              "--test-sets", "test_m2e2", "--absent-sets", "", "--seed-check", "3 3"])
    assert res.returncode == 0, res.stderr[-4000:]
    table = (exp / "RESULTS_seeds_proposed.md").read_text()
    row = next(line for line in table.splitlines() if "(test_m2e2)" in line)
    assert row.count(" / ") >= 2 and row.rstrip().endswith(("| yes |", "| NO |"))
    assert "`proposed_seed7` (" in table and "Check: correct-enrollment SI-SNRi >= 3.0 dB" in table

    res = run_recipe(recipe, ["--stage", "4", "--seed", "x1"])
    assert res.returncode == 1 and "--seed x1: expected a non-negative integer" in res.stderr
    res = run_recipe(recipe, ["--stage", "8", "--seed-check", "3"])
    assert res.returncode == 1 and "--seed-check '3': expected two numbers" in res.stderr
