"""`tsepn-bench demo` on a copy of the monaural recipe (tiny corpus): every training step of the
system runs in order (teacher -> stage 1 -> stage 2, each from the previous model file), and the
report gives per-stage seconds per example, the demo configs' example counts and a projection
against the budget. No timing is asserted, only that the figures are there and consistent."""
import re

import yaml
from recipe_helpers import make_recipe_copy

from tsepn.bench import demo as bench_demo
from tsepn.bin.bench import main as bench_main


def test_bench_demo_runs_every_step_and_projects(tmp_path, capsys, monkeypatch):
    recipe = make_recipe_copy(tmp_path)
    work = tmp_path / "work"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    bench_main(["demo", "--recipe", str(recipe), "--steps", "1", "--warmup", "0", "--train-speakers", "8",
                "--work", str(work), "data.valid_examples=2"])
    out = capsys.readouterr().out
    figures = dict(line.split() for line in out.splitlines() if re.fullmatch(r"demo_\w+ [-0-9.e+]+", line))
    systems = recipe / "conf" / "systems" / "proposed"
    for config in sorted(systems.glob("[4-6]_*.yaml")):
        step = config.stem.split("_", 1)[1]
        assert (work / "exp" / "proposed" / step / "model.pt").is_file(), step
        assert float(figures[f"demo_{step}_cpu_s_per_example"]) > 0
        demo = yaml.safe_load(config.read_text())
        epochs, per_epoch = demo["train"]["epochs"], demo["data"]["examples_per_epoch"]
        row = next(line for line in out.splitlines() if line.startswith(f"{step} "))
        assert f"{epochs}x{per_epoch} + {epochs}x2" in row, row
        assert f"  {step}: " in out and "backward + optimizer" in out
    assert "teacher forward" in out  # stage 1's breakdown names the teacher's share
    total = sum(float(v) for k, v in figures.items() if k.endswith("_projected_s"))
    assert abs(total / 60 - float(figures["demo_projected_cpu_min"])) < 1e-3 * max(1.0, total)
    assert abs(float(figures["demo_budget_ratio"]) - total / 720) < 1e-3
    assert "x the 12-min budget" in out


def test_projection_formula():
    r = bench_demo.StageResult(
        name="s", batch_size=2, steps=3, train=bench_demo.Tuple2(2.0, 1.0), data=bench_demo.Tuple2(0.0, 0.0),
        valid=bench_demo.Tuple2(1.0, 0.5), epoch_end=bench_demo.Tuple2(1.0, 1.0), setup=bench_demo.Tuple2(3.0, 2.0),
        breakdown={}, epochs=10, train_examples=120, valid_examples=12)
    got = r.projected(2, bench_demo.Tuple2(5.0, 4.0))
    # CPU: 10 x (60 x 1.0 + 6 x 0.5 + 1.0) + 2 + 4
    assert abs(got.cpu - (10 * (60 + 3 + 1) + 6)) < 1e-9
    assert abs(got.wall - (10 * (120 + 6 + 1) + 8)) < 1e-9


def test_default_recipe_is_the_monaural_one_of_this_checkout():
    # tsepn/bench/demo.py sits two folders below the repository root
    assert (bench_demo.DEFAULT_RECIPE / "conf" / "systems" / "proposed").is_dir()
    assert bench_demo.step_configs(bench_demo.DEFAULT_RECIPE, "proposed")


def test_bench_data_of_the_binaural_recipe_has_its_brir_lists(tmp_path):
    binaural = bench_demo.REPO / "egs" / "librispeech_wham" / "binaural"
    data = bench_demo.make_bench_data(tmp_path, binaural, [], train_speakers=4)
    for split in ("train", "dev", "test"):
        assert (data / f"brir_{split}").is_dir(), split
    assert (data / "train" / "wav.scp").is_file() and (data / "noise_tr" / "wav.scp").is_file()
