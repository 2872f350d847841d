"""The recipe's systems: every config loads and its model builds (paper sizes: a dry run that
prints the parameter count), `tsepn-systems` lists them, and a config that feeds a model an
input it does not take, or trains a group it does not have, fails before training naming the key."""
import pytest
import yaml
from systems_helpers import SYSTEMS_DIR, toy_config

from tsepn.bin import systems as systems_cli
from tsepn.config import ConfigError, from_dict
from tsepn.train import model_io
from tsepn.train.schema import TrainConfig, check_config, load_train_config
from tsepn.train.stages import check_groups, resolve_inputs
from tsepn.train.trainer import Trainer

VARIABLES = {"data": "data", "exp": "exp/x", "simulate_config": "conf/simulate.yaml"}
BASELINES = ["usef_tfgridnet", "td_speakerbeam", "voicefilter", "nmf", "clean_tfgridnet", "clean_tfgridnet_oracle"]
CONFIGS = sorted(p for p in SYSTEMS_DIR.glob("*/[0-9]_*.yaml") if p.parent.name.split("_paper")[0] in BASELINES)


def test_every_baseline_has_a_mini_and_a_paper_system():
    names = {p.name for p in SYSTEMS_DIR.iterdir() if p.is_dir()}
    for name in BASELINES:
        assert {name, f"{name}_paper"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_builds_and_fits_its_model(path):
    cfg = load_train_config(path, variables=VARIABLES)
    model = model_io.build_model(cfg.model.name, **cfg.model.args)
    resolve_inputs(cfg, model)  # every input taken, every input fed
    check_groups(cfg, model)  # task.train, optim.lr and warm starts name groups the model has
    count = sum(p.numel() for p in model.parameters())
    print(f"{path.parent.name}/{path.name}: model {cfg.model.name}, {count} parameters")
    if path.parent.name.endswith("_paper"):
        assert count > 500_000 or cfg.model.name == "nmf"


def test_voicefilter_steps_build_the_same_model():
    for system in ("voicefilter", "voicefilter_paper"):
        first, second = (load_train_config(SYSTEMS_DIR / system / f, variables=VARIABLES)
                         for f in ("5_dvector.yaml", "6_voicefilter.yaml"))
        assert first.model == second.model  # the warm start copies step 1's speaker group
        assert first.task.train == ["speaker"] and second.task.train == ["main"]
        assert second.init.warm_start[0].path == "exp/x/dvector/model.pt"


def test_systems_cli_lists_every_system_with_paper_size_counts(capsys):
    assert systems_cli.main(["--conf-dir", str(SYSTEMS_DIR), "--markdown"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
            for line in out.splitlines()[2:]}
    assert set(rows) == {p.name for p in SYSTEMS_DIR.iterdir() if p.is_dir() and any(p.glob("[0-9]_*.yaml"))}
    header = [c.strip() for c in out.splitlines()[0].split("|")[1:-1]]
    col = {h: i for i, h in enumerate(header)}
    assert rows["usef_tfgridnet_paper"][col["params"]] == "0.99 M"
    assert rows["td_speakerbeam_paper"][col["params"]] == "16.22 M"
    assert rows["voicefilter_paper"][col["params"]] == "23.78 M"
    assert rows["nmf_paper"][col["params"]] == "0"
    assert rows["clean_tfgridnet"][col["trained on"]] == "mix, pos<-pos_clean"
    assert rows["usef_tfgridnet"][col["decoded with"]] == "mix, pos"
    assert rows["clean_tfgridnet_oracle"][col["decoded with"]] == "mix, pos<-pos_clean"  # its decode.yaml
    assert "Delcroix" in rows["td_speakerbeam"][col["paper"]]
    assert rows["pitch_mbrnn_oracle"][col["decoded with"]] == "mix, pos, pitch (the true track)"
    print(out)
    # README's one system table says the same for every paper-size system (params, latency, inputs)
    readme = (SYSTEMS_DIR.parents[4] / "README.md").read_text()
    listed = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 6 and cells[0].endswith("_paper`"):
            listed[cells[0].split("`")[-2]] = cells
    assert set(listed) == {name for name in rows if name.endswith("_paper")}
    for name, cells in listed.items():
        mine = rows[name]
        assert cells[1:] == [mine[col["paper"]], mine[col["params"]], mine[col["latency"]], mine[col["trained on"]],
                             mine[col["decoded with"]]], name


def toy_run_config(system, step, **changes):
    raw = yaml.safe_load((SYSTEMS_DIR / system / step).read_text())
    raw = toy_config(raw)
    for key, value in changes.items():
        raw[key] = value
    raw["model"] = dict(raw["model"], args={})  # sizes do not matter for the checks
    return check_config(from_dict(TrainConfig, raw, source=f"{system}/{step}"), f"{system}/{step}")


@pytest.mark.parametrize("system, step, changes, message", [
    ("usef_tfgridnet", "6_train.yaml", {"task": {"kind": "extract", "inputs": {"mix": "mix", "pos": "pos", "neg": "neg"},
                                                 "train": ["main"]}},
     r"task\.inputs\.neg: model 'usef_tfgridnet' does not take input 'neg' \(it takes mix, pos\)"),
    ("td_speakerbeam", "6_train.yaml", {"task": {"kind": "extract", "inputs": {"mix": "mix", "pos": "pos"},
                                                 "train": ["encoder", "main"]},
                                        "optim": {"lr": {"encoder": 1e-3, "main": 1e-3}}},
     r"task\.train: no group 'encoder'; model 'td_speakerbeam' has parameter groups speaker, main"),
    ("voicefilter", "6_voicefilter.yaml", {"optim": {"lr": {"speaker": 0.0, "main": 1e-3, "head": 1e-3}}},
     r"optim\.lr\.head: no such group"),
    ("voicefilter", "5_dvector.yaml", {"task": {"kind": "extract", "inputs": {"mix": "mix", "pos": "clean_enroll"},
                                                "train": ["speaker"]}},
     r"task\.inputs\.pos: no batch field 'clean_enroll'"),
])
def test_bad_configs_fail_before_training_naming_the_key(system, step, changes, message, tmp_path):
    cfg = toy_run_config(system, step, **changes)
    if system == "voicefilter":
        cfg.init.warm_start = []
    with pytest.raises(ConfigError, match=message):
        Trainer(cfg, tmp_path / "exp")
    assert not (tmp_path / "exp" / "checkpoints").exists()


def test_decode_reads_the_enrollment_the_decode_config_names(tmp_path):
    from argparse import Namespace

    from tsepn.bin.decode import DecodeConfig, input_lists
    from tsepn.config import load_config

    for name in ("mix", "pos", "neg", "pos_clean"):
        (tmp_path / f"{name}.scp").write_text(f"ex1 {name}/ex1.flac\nex2 {name}/ex2.flac\n")
    args = Namespace(set_dir=str(tmp_path), mix=None, pos=None, neg=None)
    assert input_lists(args)["pos"]["ex1"] == "pos/ex1.flac"
    oracle = load_config(DecodeConfig, SYSTEMS_DIR / "clean_tfgridnet_oracle" / "decode.yaml")
    assert oracle.enrollment == "pos_clean"
    tables = input_lists(args, oracle.enrollment)
    assert tables["pos"]["ex1"] == "pos_clean/ex1.flac" and tables["neg"]["ex2"] == "neg/ex2.flac"
    with pytest.raises(ConfigError, match="enrollment must be one of pos, pos_clean, got 'enroll_clean'"):
        input_lists(args, "enroll_clean")
