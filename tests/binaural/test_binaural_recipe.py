"""The binaural recipe end to end (stages 0-8) on a tiny corpus with tiny synthetic BRIR sets,
in a temporary copy of egs/librispeech_wham/binaural.

The model is a tiny version of the paper's binaural one (2 channels in and out, cross-attention
fusion pooled over 20 frames) trained for a few examples: this checks that every stage hands
the next what it needs with 2-channel audio (BRIR lists -> binaural sets -> training ->
decoding -> per-channel scores with ITD/ILD errors), not that the model learns (the demo's
figures are in the issue notes).
"""
import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import soundfile as sf
import yaml

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs" / "librispeech_wham" / "binaural"
TEST_SET = "test_m2e2"
TINY_CORPUS = {
    "seed": 3,
    "utterance_seconds": [3.0, 4.0],
    "train": {"speakers": 6, "utterances_per_speaker": 3, "chapters_per_speaker": 1},
    "dev": {"speakers": 5, "utterances_per_speaker": 3, "chapters_per_speaker": 1},
    "test": {"speakers": 5, "utterances_per_speaker": 3, "chapters_per_speaker": 1},
    "noise": {"tr": 1, "cv": 1, "tt": 1, "seconds": 8.0},
    "brirs": {"cipic_subjects": [3, 8, 9], "cipic_elevations": [0.0], "seconds": 0.2},
}
TINY_TRAINING = "train.epochs=1 data.examples_per_epoch=2 data.valid_examples=2 data.num_workers=0"
# the paper's binaural fusion at a tiny size: cross-attention, enrollment pooled over 20 frames
TINY_MODEL = {"fusion": "cross_attention",
              "fusion_args": {"n_heads": 2, "approx_qk_dim": 32, "pooling_size": 20, "pooling_stride": 20}}


def make_copy(work: Path) -> Path:
    recipe = work / "binaural"
    recipe.mkdir()
    shutil.copy2(RECIPE / "run.sh", recipe / "run.sh")
    shutil.copytree(RECIPE / "local", recipe / "local")
    shutil.copytree(RECIPE / "conf", recipe / "conf", symlinks=True)
    (recipe / "conf" / "mini.yaml").write_text(yaml.safe_dump(TINY_CORPUS))
    sim = yaml.safe_load((RECIPE / "conf" / "simulate.yaml").read_text())
    sim["sets"] = [s for s in sim["sets"] if s["name"] in ("dev_m2e2", TEST_SET)]
    for s in sim["sets"]:
        s["num_examples"] = 3
    (recipe / "conf" / "simulate.yaml").write_text(yaml.safe_dump(sim))
    tiny = recipe / "conf" / "systems" / "tiny"
    tiny.mkdir()
    for config in sorted((RECIPE / "conf" / "systems" / "proposed").glob("*.yaml")):
        data = yaml.safe_load(config.read_text())
        assert data["model"]["args"]["channels"] == 2, config
        data["model"]["args"].update(TINY_MODEL)
        (tiny / config.name).write_text(yaml.safe_dump(data))
    for name in ("tse.sh", "path.sh", "cmd.sh"):
        os.symlink(REPO / "egs" / "TEMPLATE" / name, recipe / name)
    os.symlink(REPO / "utils", recipe / "utils")
    return recipe


def test_binaural_recipe_stages_0_to_8(tmp_path):
    recipe = make_copy(tmp_path)
    env = dict(os.environ, TSEPN_ROOT=str(REPO), OMP_NUM_THREADS="1")
    args = ["--nj", "2", "--ntrain", "1", "--system", "tiny", "--test-sets", TEST_SET, "--train-args", TINY_TRAINING]
    res = subprocess.run(["bash", "./run.sh", *args], cwd=recipe, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]

    # stage 0-1: the synthetic BRIR sets in their layouts, prepared into per-split lists
    assert (recipe / "corpus" / "brirs" / "CIPIC" / "subject_003.sofa").is_file()
    for split in ("train", "dev", "test"):
        assert (recipe / "data" / f"brir_{split}" / "scene2face").is_file()
    # stage 3: binaural sets, every spec with one BRIR scene of the test split
    specs = [json.loads(line) for line in (recipe / "data" / TEST_SET / "scenarios.jsonl").read_text().splitlines()]
    assert all(s["channels"] == 2 and s["binaural"]["scene"] for s in specs)
    test_scenes = set((recipe / "data" / "brir_test" / "scene2set").read_text().split()[::2])
    assert {s["binaural"]["scene"] for s in specs} <= test_scenes
    mix = (recipe / "data" / TEST_SET / "mix.scp").read_text().split()[1]
    assert sf.info(recipe / mix).channels == 2  # scp paths are relative to the recipe folder
    # stages 4-8: a 2-channel model, decoded to 2-channel audio and scored per channel with ITD/ILD errors
    exp = recipe / "exp" / "tiny" / "stage2"
    for set_name in (TEST_SET, f"{TEST_SET}_wrong_enroll"):
        est = (exp / f"decode_{set_name}" / "est.scp").read_text().split()
        assert len(est) == 6 and sf.info(recipe / est[1]).channels == 2
        with open(exp / f"score_{set_name}" / "per_utt.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 3 and "itd_err_us" in rows[0] and "ild_err_db" in rows[0]
        summary = json.loads((exp / f"score_{set_name}" / "summary.json").read_text())
        assert summary["n_examples"] == 3 and summary["si_snri"]["n"] + summary["si_snri"]["undefined"] == 3
    assert "SI-SNRi" in (exp / "RESULTS.md").read_text()
