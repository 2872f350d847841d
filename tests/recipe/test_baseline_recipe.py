"""A baseline system through the shared recipe stages: NMF (no training: stage 6 writes its
model file) and USEF-TFGridNet (one tiny training epoch), decoded and scored on a tiny corpus,
then compared side by side in exp/RESULTS.md with the wrong-enrollment controls."""
import json
import os
import subprocess
from pathlib import Path

from recipe_helpers import REPO, make_recipe_copy, run_recipe

TEST_SET = "test_m2e2"
USEF_TINY = ("model.args.n_fft=256 model.args.hop=128 model.args.emb_dim=4 model.args.lstm_hidden=4 "
             "train.epochs=1 data.examples_per_epoch=2 data.valid_examples=2 data.num_workers=0")


def run(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    res = run_recipe(recipe, ["--nj", "2", "--ntrain", "1", "--test-sets", TEST_SET, *args], timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    return res


def test_nmf_and_usef_tfgridnet_through_the_recipe(tmp_path):
    recipe = make_recipe_copy(tmp_path, (TEST_SET,), num_examples=3)
    run(recipe, "--stop-stage", "3")
    run(recipe, "--system", "nmf", "--stage", "4")
    run(recipe, "--system", "usef_tfgridnet", "--stage", "4", "--train-args", USEF_TINY)
    for system, step in (("nmf", "build"), ("usef_tfgridnet", "train")):
        final = recipe / "exp" / system / step
        assert (final / "model.pt").is_file()
        for set_name in (TEST_SET, f"{TEST_SET}_wrong_enroll"):
            summary = json.loads((final / f"score_{set_name}" / "summary.json").read_text())
            assert summary["n_examples"] == 3 and summary["si_snri"]["n"] == 3, (system, set_name)
    assert not (recipe / "exp" / "nmf" / "build" / "checkpoints").exists()  # nothing was trained
    assert (recipe / "exp" / "usef_tfgridnet" / "train" / "checkpoints" / "last.pt").is_file()
    for system, step in (("nmf", "build"), ("usef_tfgridnet", "train")):
        assert "SI-SNRi" in (recipe / "exp" / system / step / "RESULTS.md").read_text()
    help_text = subprocess.run([str(REPO / "tools" / "venv" / "bin" / "python"), "-m", "tsepn.bin.make_results",
                                "--help"], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    if "--compare" in help_text.stdout:  # the side-by-side table (stage 8), where make_results has it
        compare = (recipe / "exp" / "RESULTS.md").read_text()
        assert "nmf" in compare and "usef_tfgridnet" in compare
