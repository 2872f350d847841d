"""The recipe owns every path: with --data, --exp, --simulate-config (and --corpus-dir)
elsewhere, stages 0-6 neither read nor write the default folders. The defaults are made
unusable (`data`, `exp`, `corpus` are plain files, conf/simulate.yaml is absent), so a
stage or a training config that still used one would fail, and the recipe folder must
come out of the run exactly as it went in. Then --teacher-checkpoint stands in for the
system's stage-4 step, and the options and systems are listed by --help."""
import os
from pathlib import Path

import yaml
from recipe_helpers import TINY_TRAINING, make_recipe_copy, run_recipe


def snapshot(root: Path) -> dict:
    """Every entry under root (links not followed): kind, size, modification time."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            entries[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return entries


def test_recipe_options_move_every_path(tmp_path):
    recipe = make_recipe_copy(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    simulate = elsewhere / "my_simulate.yaml"
    (recipe / "conf" / "simulate.yaml").rename(simulate)
    for name in ("data", "exp", "corpus"):
        (recipe / name).write_text("a default folder: must not be used\n")
    before = snapshot(recipe)
    data, exp = elsewhere / "d", elsewhere / "e"

    res = run_recipe(recipe, ["--stop-stage", "6", "--nj", "2", "--ntrain", "1", "--train-args", TINY_TRAINING,
                              "--data", str(data), "--exp", str(exp), "--simulate-config", str(simulate),
                              "--corpus-dir", str(elsewhere / "corpus")])
    assert res.returncode == 0, res.stderr[-4000:]
    assert snapshot(recipe) == before
    assert (data / "dev_m2e2" / ".done").is_file() and (data / "train" / "activity").is_file()
    for step in ("teacher", "stage1", "stage2"):
        assert (exp / "proposed" / step / "model.pt").is_file(), step
    # the merged configs saved with each step name the folders given, no placeholder left
    stage1 = (exp / "proposed" / "stage1" / "config.yaml").read_text()
    assert "${" not in stage1
    assert str(data / "dev_m2e2") in stage1 and str(simulate) in stage1
    assert str(exp / "proposed" / "teacher" / "model.pt") in stage1
    assert str(exp / "proposed" / "stage1" / "model.pt") in (exp / "proposed" / "stage2" / "config.yaml").read_text()

    # an existing teacher: the system's stage-4 step is not trained, stage 5 distils from it
    teacher = elsewhere / "teacher.pt"
    (exp / "proposed" / "teacher" / "model.pt").rename(teacher)
    exp2 = elsewhere / "e2"
    res = run_recipe(recipe, ["--stage", "4", "--stop-stage", "5", "--ntrain", "1", "--train-args", TINY_TRAINING,
                              "--data", str(data), "--exp", str(exp2), "--simulate-config", str(simulate),
                              "--teacher-checkpoint", str(teacher)])
    assert res.returncode == 0, res.stderr[-4000:]
    assert "teacher given" in res.stderr
    assert (exp2 / "proposed" / "teacher" / "model.pt").resolve() == teacher.resolve()
    assert not (exp2 / "proposed" / "teacher" / "train.log").exists()
    assert (exp2 / "proposed" / "stage1" / "model.pt").is_file()
    saved = yaml.safe_load((exp2 / "proposed" / "stage1" / "config.yaml").read_text())
    assert str(exp2 / "proposed" / "teacher" / "model.pt") in str(saved)
    assert snapshot(recipe) == before


def test_help_lists_the_systems_and_a_wrong_system_is_named(tmp_path):
    recipe = make_recipe_copy(tmp_path)
    res = run_recipe(recipe, ["--help"])
    assert res.returncode == 0
    lines = {line.split()[0]: line for line in res.stdout.splitlines() if line.startswith("    ")}
    assert {"proposed", "proposed_paper", "improved_paper"} <= set(lines)
    assert "mini size" in lines["proposed"] and "--system NAME" in res.stdout
    res = run_recipe(recipe, ["--stage", "7", "--system", "nosuch"])
    assert res.returncode == 1
    assert "--system nosuch: no training configs conf/systems/nosuch/" in res.stderr and "proposed_paper" in res.stderr
