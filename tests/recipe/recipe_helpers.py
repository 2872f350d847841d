"""Temporary copies of the monaural recipe for the recipe tests: a recipe's own files
(run.sh, local/, conf/ with a tiny corpus and few test examples) plus the links every recipe
has (tse.sh, path.sh, cmd.sh -> egs/TEMPLATE, utils)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

import yaml

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs" / "librispeech_wham" / "mono"

TINY_CORPUS = {
    "seed": 3,
    "utterance_seconds": [3.0, 4.0],
    "train": {"speakers": 6, "utterances_per_speaker": 3, "chapters_per_speaker": 1},
    "dev": {"speakers": 5, "utterances_per_speaker": 3, "chapters_per_speaker": 1},
    "test": {"speakers": 5, "utterances_per_speaker": 3, "chapters_per_speaker": 1},
    "noise": {"tr": 1, "cv": 1, "tt": 1, "seconds": 8.0},
}
# one short epoch per training step, one example per process step
TINY_TRAINING = "train.epochs=1 data.examples_per_epoch=4 data.valid_examples=4 data.num_workers=0"


def tiny_simulate_config(test_sets: Sequence[str], num_examples: int = 4) -> dict:
    """The recipe's conf/simulate.yaml with dev_m2e2 and `test_sets` only, `num_examples` each."""
    conf = yaml.safe_load((RECIPE / "conf" / "simulate.yaml").read_text())
    kept = [s for s in conf["sets"] if s["name"] == "dev_m2e2" or s["name"] in test_sets]
    for s in kept:
        s["num_examples"] = num_examples
    conf["sets"] = kept
    return conf


def make_recipe_copy(work: Path, test_sets: Sequence[str] = (), num_examples: int = 4) -> Path:
    recipe = work / "mono"
    recipe.mkdir()
    shutil.copy2(RECIPE / "run.sh", recipe / "run.sh")
    shutil.copytree(RECIPE / "local", recipe / "local")
    shutil.copytree(RECIPE / "conf", recipe / "conf", symlinks=True)
    (recipe / "conf" / "mini.yaml").write_text(yaml.safe_dump(TINY_CORPUS))
    (recipe / "conf" / "simulate.yaml").write_text(yaml.safe_dump(tiny_simulate_config(test_sets, num_examples)))
    for name in ("tse.sh", "path.sh", "cmd.sh"):
        os.symlink(REPO / "egs" / "TEMPLATE" / name, recipe / name)
    os.symlink(REPO / "utils", recipe / "utils")
    return recipe


def run_recipe(recipe: Path, args: Sequence[str], timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, TSEPN_ROOT=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run(["bash", "./run.sh", *args], cwd=recipe, env=env, capture_output=True, text=True,
                          timeout=timeout)
