"""The whole monaural recipe, stages 0-8, on a tiny mini corpus in a temporary copy.

Training runs one short epoch per stage: this checks that every stage hands the
next one what it needs (data dirs -> activity -> rendered sets -> teacher ->
distilled encoder -> extractor -> decoded audio -> scores -> RESULTS.md), not
that the model learns (the demo's figures are in the issue notes).
"""
import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs" / "librispeech_wham" / "mono"
TEST_SETS = ("test_m2e2", "test_m3e3")

TINY_CORPUS = {
    "seed": 3,
    "utterance_seconds": [3.0, 4.0],
    "train": {"speakers": 6, "utterances_per_speaker": 3, "chapters_per_speaker": 1},
    "dev": {"speakers": 5, "utterances_per_speaker": 3, "chapters_per_speaker": 1},
    "test": {"speakers": 5, "utterances_per_speaker": 3, "chapters_per_speaker": 1},
    "noise": {"tr": 1, "cv": 1, "tt": 1, "seconds": 8.0},
}


def tiny_simulate_config() -> dict:
    conf = yaml.safe_load((RECIPE / "conf" / "simulate.yaml").read_text())
    kept = [s for s in conf["sets"] if s["name"] == "dev_m2e2" or s["name"] in TEST_SETS]
    for s in kept:
        s["num_examples"] = 4
    conf["sets"] = kept
    return conf


def make_recipe_copy(work: Path) -> Path:
    """The recipe's own files (run.sh, local/, conf/ with a tiny corpus and test sets) and the
    links every recipe has (tse.sh, path.sh, cmd.sh -> egs/TEMPLATE, utils)."""
    recipe = work / "mono"
    recipe.mkdir()
    shutil.copy2(RECIPE / "run.sh", recipe / "run.sh")
    shutil.copytree(RECIPE / "local", recipe / "local")
    shutil.copytree(RECIPE / "conf", recipe / "conf", symlinks=True)
    (recipe / "conf" / "mini.yaml").write_text(yaml.safe_dump(TINY_CORPUS))
    (recipe / "conf" / "simulate.yaml").write_text(yaml.safe_dump(tiny_simulate_config()))
    for name in ("tse.sh", "path.sh", "cmd.sh"):
        os.symlink(REPO / "egs" / "TEMPLATE" / name, recipe / name)
    os.symlink(REPO / "utils", recipe / "utils")
    return recipe


def test_recipe_stages_0_to_8(tmp_path):
    recipe = make_recipe_copy(tmp_path)
    # two training processes (DDP on CPU, as `make demo` runs on 2 cores), two examples each
    train_args = "train.epochs=1 data.examples_per_epoch=4 data.valid_examples=4 data.num_workers=0"
    cmd = ["bash", "./run.sh", "--nj", "2", "--ntrain", "2", "--test-sets", " ".join(TEST_SETS),
           "--train-args", train_args]
    env = dict(os.environ, TSEPN_ROOT=str(REPO), OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, cwd=recipe, env=env, capture_output=True, text=True, timeout=900)
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

    # Re-running a finished recipe is safe and quick: every stage finds its work done.
    res = subprocess.run(cmd + ["--stage", "1"], cwd=recipe, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
