"""run.sh --stop-stage 2 on a tiny mini corpus, in a temporary copy of the recipe."""
import os
import shutil
from pathlib import Path

import pytest
from prep_helpers import RECIPE, REPO, run_bash

from tsepn.data.activity import read_activity
from tsepn.data.datadir import validate_data_dir

TINY_YAML = """seed: 1
utterance_seconds: [3.0, 4.0]
train: {speakers: 4, utterances_per_speaker: 2, chapters_per_speaker: 1}
dev: {speakers: 2, utterances_per_speaker: 2, chapters_per_speaker: 1}
test: {speakers: 2, utterances_per_speaker: 2, chapters_per_speaker: 1}
noise: {tr: 1, cv: 1, tt: 1, seconds: 2.0}
"""


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("recipe") / "mono"
    work.mkdir()
    shutil.copy2(RECIPE / "run.sh", work / "run.sh")
    shutil.copytree(RECIPE / "local", work / "local")
    (work / "conf").mkdir()
    (work / "conf" / "mini.yaml").write_text(TINY_YAML)
    for name in ("tse.sh", "path.sh", "cmd.sh"):  # the links every recipe has
        os.symlink(REPO / "egs" / "TEMPLATE" / name, work / name)
    os.symlink(REPO / "utils", work / "utils")
    return work


def run(recipe: Path, args: str):
    return run_bash(f"./run.sh {args}", recipe, {"TSEPN_ROOT": str(REPO)}, timeout=120)


def test_stages_0_to_2_then_rerun(recipe):
    res = run(recipe, "--stop-stage 2 --nj 2")
    assert res.returncode == 0, res.stderr[-3000:]
    for name, n in (("train", 8), ("dev", 4), ("test", 4)):
        data = validate_data_dir(recipe / "data" / name)
        assert len(data.wav) == n
        activity = read_activity(recipe / "data" / name / "activity")
        assert sorted(activity) == sorted(data.wav) and all(activity.values())
    for split in ("tr", "cv", "tt"):
        assert validate_data_dir(recipe / "data" / f"noise_{split}").kind == "noise"
    assert "Done (stages 0..2)" in res.stderr

    res = run(recipe, "--stop-stage 2")  # safe to re-run; finished work is skipped
    assert res.returncode == 0, res.stderr[-3000:]
    assert "nothing to do" in res.stderr and "activity is up to date" in res.stderr


def test_bad_options_and_missing_inputs(recipe):
    res = run(recipe, "--no-such-option 1")
    assert res.returncode == 1 and "invalid option --no-such-option" in res.stderr
    res = run(recipe, "--strict maybe")
    assert res.returncode == 1 and "expects true or false" in res.stderr
    res = run(recipe, "--corpus librispeech --librispeech-dir /nonexistent")
    assert res.returncode == 1 and "needs --librispeech-dir and --wham-dir" in res.stderr
    res = run(recipe, "--stage 4 --stop-stage 4")  # this copy of the recipe has no training configs
    assert res.returncode == 1 and "--system proposed: no training configs conf/systems/proposed/" in res.stderr
    res = run(recipe, "--stage 4 --stop-stage 4 --teacher-checkpoint /nonexistent/teacher.pt")
    assert res.returncode == 1 and "/nonexistent/teacher.pt: no such file" in res.stderr
    res = run(recipe, "--help")
    assert res.returncode == 0 and "--stop-stage" in res.stdout
