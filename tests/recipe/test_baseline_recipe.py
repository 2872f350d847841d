"""Baseline systems through the shared recipe stages: NMF (no training: stage 6 writes its
model file), USEF-TFGridNet and reference selection (refsel; one tiny training epoch each),
decoded and scored on a tiny corpus, then compared side by side in exp/RESULTS.md with the
wrong-enrollment controls; refsel's stage 8 adds its own report (SI-SDR with the selected vs
the oracle candidate reference, conf/systems/refsel/report.yaml)."""
import json
import os
import subprocess
from pathlib import Path

from recipe_helpers import REPO, make_recipe_copy, run_recipe

TEST_SET = "test_m2e2"
USEF_TINY = ("model.args.n_fft=256 model.args.hop=128 model.args.emb_dim=4 model.args.lstm_hidden=4 "
             "train.epochs=1 data.examples_per_epoch=2 data.valid_examples=2 data.num_workers=0")
REFSEL_TINY = ("model.args.filters=8 model.args.tcn_channels=8 model.args.tcn_hidden=8 model.args.stacks=1 "
               "model.args.blocks=1 model.args.resnet_channels=8 model.args.embedding_dim=8 model.args.num_candidates=2 "
               "model.args.selector_hidden=4 train.epochs=1 data.examples_per_epoch=2 data.valid_examples=2 "
               "data.num_workers=0")
SYSTEMS = (("nmf", "build"), ("usef_tfgridnet", "train"), ("refsel", "train"))


def run(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    res = run_recipe(recipe, ["--nj", "2", "--ntrain", "1", "--test-sets", TEST_SET, *args], timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    return res


def test_baselines_through_the_recipe(tmp_path):
    recipe = make_recipe_copy(tmp_path, (TEST_SET,), num_examples=3)
    run(recipe, "--stop-stage", "3")
    run(recipe, "--system", "nmf", "--stage", "4")
    run(recipe, "--system", "usef_tfgridnet", "--stage", "4", "--train-args", USEF_TINY)
    run(recipe, "--system", "refsel", "--stage", "4", "--train-args", REFSEL_TINY)
    for system, step in SYSTEMS:
        final = recipe / "exp" / system / step
        assert (final / "model.pt").is_file()
        for set_name in (TEST_SET, f"{TEST_SET}_wrong_enroll"):
            summary = json.loads((final / f"score_{set_name}" / "summary.json").read_text())
            assert summary["n_examples"] == 3 and summary["si_snri"]["n"] == 3, (system, set_name)
    assert not (recipe / "exp" / "nmf" / "build" / "checkpoints").exists()  # nothing was trained
    assert (recipe / "exp" / "usef_tfgridnet" / "train" / "checkpoints" / "last.pt").is_file()
    for system, step in SYSTEMS:
        assert "SI-SNRi" in (recipe / "exp" / system / step / "RESULTS.md").read_text()
    help_text = subprocess.run([str(REPO / "tools" / "venv" / "bin" / "python"), "-m", "tsepn.bin.make_results",
                                "--help"], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    if "--compare" in help_text.stdout:  # the side-by-side table (stage 8), where make_results has it
        compare = (recipe / "exp" / "RESULTS.md").read_text()
        assert all(system in compare for system, _ in SYSTEMS)
    # refsel: the oracle candidate is the best of the candidates, so never below the selected one
    for set_name in (TEST_SET, f"{TEST_SET}_wrong_enroll"):
        report = json.loads((recipe / "exp" / "refsel" / "train" / f"score_{set_name}" / "report.json").read_text())
        assert report["report"] == "refsel_oracle" and report["n_examples"] == 3
        figures = report["figures"]
        assert figures["si_sdr_oracle"] >= figures["si_sdr_selected"] - 1e-6
        assert 0.0 <= figures["selected_is_oracle"] <= 1.0
    results = (recipe / "exp" / "refsel" / "train" / "RESULTS.md").read_text()
    assert "selected vs the oracle candidate" in results and "si_sdr_oracle" in results
    assert "si_sdr_oracle" in (recipe / "exp" / "RESULTS.md").read_text()
    assert not (recipe / "exp" / "nmf" / "build" / f"score_{TEST_SET}" / "report.json").exists()  # none asked
