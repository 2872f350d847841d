"""The systems' recipe steps on toy data: VoiceFilter's d-vector step then its extraction step
(speaker group frozen, warm-started), an end-to-end system, and NMF's nothing-to-train step."""
import numpy as np
import pytest
import torch
import yaml
from systems_helpers import SYSTEMS_DIR, TINY, SystemsToyData, toy_config

from tsepn.bin import train as train_cli
from tsepn.config import from_dict
from tsepn.infer import Extractor
from tsepn.models.checkpoint import load_model
from tsepn.train.schema import TrainConfig, check_config
from tsepn.train.trainer import Trainer


def recipe_step(system, step, variables, **model_args):
    """The recipe's config, run on the toy data at a tiny size (placeholders filled by hand)."""
    text = (SYSTEMS_DIR / system / step).read_text()
    for key, value in variables.items():
        text = text.replace("${" + key + "}", value)
    raw = toy_config(yaml.safe_load(text))
    raw["model"] = dict(raw["model"], args=model_args)
    return check_config(from_dict(TrainConfig, raw, source=step), step)


def state(model, prefix):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(prefix)}


def test_voicefilter_dvector_step_then_extraction_step(tmp_path):
    exp = tmp_path / "exp" / "voicefilter"
    torch.manual_seed(0)
    step1 = Trainer(recipe_step("voicefilter", "5_dvector.yaml", {"exp": str(exp)}, **TINY["voicefilter"]),
                    exp / "dvector")
    assert step1.task.inputs == {"mix": "mix", "pos": "enroll_clean"}
    main_before, speaker_before = state(step1.model, "cnn."), state(step1.model, "dvector.")
    step1.run()
    assert "cross_entropy" in step1.history[-1]["valid"]
    main_after, speaker_after = state(step1.model, "cnn."), state(step1.model, "dvector.")
    assert all(torch.equal(main_before[k], main_after[k]) for k in main_before if "running" not in k
               and "num_batches" not in k)  # main frozen (its batch-norm statistics too: eval mode)
    assert any(not torch.equal(speaker_before[k], speaker_after[k]) for k in speaker_before)
    dvector_model = load_model(exp / "dvector" / "model.pt")

    step2 = Trainer(recipe_step("voicefilter", "6_voicefilter.yaml", {"exp": str(exp)}, **TINY["voicefilter"]),
                    exp / "voicefilter")
    warm = state(step2.model, "dvector.")
    assert all(torch.equal(warm[k], v) for k, v in state(dvector_model, "dvector.").items())
    step2.run()
    assert all(torch.equal(warm[k], v) for k, v in state(step2.model, "dvector.").items())  # frozen
    assert (exp / "voicefilter" / "model.pt").is_file()


@pytest.mark.parametrize("system", ["usef_tfgridnet", "td_speakerbeam"])
def test_end_to_end_system_trains_and_decodes(system, tmp_path):
    torch.manual_seed(0)
    trainer = Trainer(recipe_step(system, "6_train.yaml", {}, **TINY[system]), tmp_path / "exp")
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    changed = [k for k, v in trainer.model.state_dict().items() if not torch.equal(before[k], v)]
    assert changed
    assert {"si_sdr", "si_snri", "si_snri_wrong_enroll"} <= set(trainer.history[-1]["valid"])
    item = SystemsToyData(size=1, seconds=0.6)[0]  # tsepn.infer wants >= 0.5-s enrollments
    out = Extractor.from_checkpoint(tmp_path / "exp" / "model.pt")(item["mix"].numpy(), item["pos"].numpy(),
                                                                     item["neg"].numpy())
    assert out.shape == item["mix"].shape and np.isfinite(out).all()


def test_nmf_step_writes_its_model_file_without_training(tmp_path):
    text = (SYSTEMS_DIR / "nmf" / "6_build.yaml").read_text()
    config = tmp_path / "6_build.yaml"
    config.write_text(text)
    exp = tmp_path / "exp" / "nmf" / "build"
    argv = ["--config", str(config), "--exp-dir", str(exp), "--resume",
            "--var", "data=nowhere", "--var", "exp=nowhere", "--var", "simulate_config=nowhere.yaml"]
    assert train_cli.main(argv) == 0  # no data is read: nothing to train
    assert (exp / "config.yaml").is_file() and not (exp / "checkpoints").exists()
    model = load_model(exp / "model.pt")
    assert type(model).__name__ == "NMFExtractor" and model.tsepn_args["pos_bases"] == 8
    item = SystemsToyData(size=1, seconds=0.6)[0]  # tsepn.infer wants >= 0.5-s enrollments
    out = Extractor(model)(item["mix"].numpy(), item["pos"].numpy(), item["neg"].numpy())
    assert out.shape == item["mix"].shape and np.isfinite(out).all()
