"""Adversarial training (tsepn.train.adversarial): a discriminator with its own optimizer next to a task."""
import pytest
import torch

from tsepn.config import ConfigError
from tsepn.models import DISCRIMINATORS
from tsepn.train.adversarial import as_judgement, discriminator_loss, generator_loss
from tsepn.train.trainer import Trainer, TrainingError

from train_helpers import make_config

E2E = {"kind": "extract", "train": ["encoder", "head", "main"]}
DISC = {"name": "waveform", "args": {"scales": 2, "width": 8, "layers": 2, "groups": 2}}
ADV = {"discriminator": DISC, "weight": 0.5, "feature_matching": 1.0, "lr": 1e-3}
TIMING = ("seconds", "examples_per_second")


def weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def figures(history):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in history]


def test_losses_and_the_judgement_format():
    real, fake = torch.tensor([1.0, 0.5]), torch.tensor([0.0, 1.0])
    assert discriminator_loss("lsgan", real, fake).item() == pytest.approx((0 + 0.25) / 2 + (0 + 1) / 2)
    assert generator_loss("lsgan", fake).item() == pytest.approx((1 + 0) / 2)
    assert discriminator_loss("hinge", real, fake).item() == pytest.approx((0 + 0.5) / 2 + (1 + 2) / 2)
    assert generator_loss("hinge", fake).item() == pytest.approx(-0.5)
    score = torch.zeros(2, 1, 5)
    assert as_judgement(score)[0][0] is score and as_judgement([score, score])[1][1] == []
    disc = DISCRIMINATORS.build("waveform", **DISC["args"])
    judged = disc(torch.randn(2, 1, 400))
    assert len(judged) == 2 and all(s.shape[:2] == (2, 1) and len(f) == 4 for s, f in judged)


def test_generator_and_discriminator_both_train(toys, tmp_path):
    trainer = Trainer(make_config(E2E, adversarial=ADV, train={"epochs": 2}), tmp_path / "exp")
    g0, d0 = weights(trainer.model), weights(trainer.adversary.discriminator)
    trainer.run()
    g1, d1 = weights(trainer.model), weights(trainer.adversary.discriminator)
    assert all(not torch.equal(g0[k], g1[k]) for k in g0)
    assert all(not torch.equal(d0[k], d1[k]) for k in d0)
    train = trainer.history[-1]["train"]
    assert {"adv_d", "adv_g", "feature_matching", "snr", "grad_norm"} <= set(train)
    assert "adv_d" not in trainer.history[-1]["valid"]
    last = torch.load(tmp_path / "exp/checkpoints/last.pt", weights_only=True)
    assert set(last["adversarial"]) == {"state_dict", "optimizer"}
    saved = torch.load(tmp_path / "exp/model.pt", weights_only=True)  # the generator alone
    assert not any(k.startswith("discriminators.") for k in saved["state_dict"])


def test_resume_is_exact_with_the_discriminator(toys, tmp_path):
    cfg = make_config(E2E, adversarial=ADV, train={"epochs": 2})
    straight = Trainer(cfg, tmp_path / "a")
    straight.run()
    first = Trainer(make_config(E2E, adversarial=ADV, train={"epochs": 1}), tmp_path / "b")
    first.run()
    resumed = Trainer(cfg, tmp_path / "b", resume=True)
    resumed.run()
    for a, b in ((straight.model, resumed.model), (straight.adversary.discriminator, resumed.adversary.discriminator)):
        wa, wb = weights(a), weights(b)
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert figures(straight.history) == figures(resumed.history)
    Trainer(make_config(E2E, train={"epochs": 1}), tmp_path / "c").run()
    with pytest.raises(TrainingError, match="trained without the adversarial section"):
        Trainer(cfg, tmp_path / "c", resume=True)


def test_before_start_step_the_generator_trains_as_without_adversary(toys, tmp_path):
    plain = Trainer(make_config(E2E, train={"epochs": 1}), tmp_path / "plain")
    plain.run()
    late = Trainer(make_config(E2E, adversarial=dict(ADV, start_step=1000), train={"epochs": 1}), tmp_path / "late")
    d0 = weights(late.adversary.discriminator)
    late.run()
    a, b = weights(plain.model), weights(late.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert "adv_g" not in late.history[0]["train"] and "adv_d" in late.history[0]["train"]
    d1 = weights(late.adversary.discriminator)
    assert any(not torch.equal(d0[k], d1[k]) for k in d0)  # the discriminator learns from the start


@pytest.mark.parametrize("changes, error, message", [
    ({"adversarial": dict(ADV, output="pitch")}, ConfigError,
     r"adversarial\.output: the task produces no output 'pitch' \(its outputs: wave\)"),
    ({"adversarial": dict(ADV, real="clean")}, ConfigError, r"adversarial\.real: no batch field 'clean'"),
    ({"adversarial": dict(ADV, discriminator={"name": "nope"})}, ConfigError,
     r"adversarial\.discriminator: cannot build 'nope'.*known: .*waveform"),
    ({"adversarial": dict(ADV, discriminator=dict(DISC, args={"widht": 3}))}, ConfigError,
     r"adversarial\.discriminator: cannot build 'waveform' with its args"),
])
def test_bad_adversarial_sections_fail_before_training(toys, tmp_path, changes, error, message):
    with pytest.raises(error, match=message):
        Trainer(make_config(E2E, **changes), tmp_path / "exp")


@pytest.mark.parametrize("changes, message", [
    ({"adversarial": dict(ADV, loss="wgan")}, r"adversarial\.loss: must be lsgan or hinge"),
    ({"adversarial": dict(ADV, lr=0)}, r"adversarial\.lr: must be > 0"),
    ({"adversarial": dict(ADV, lrr=1)}, r"unknown key\(s\) adversarial\.lrr"),
    ({"adversarial": ADV, "train": {"precision": "fp16"}}, r"train\.precision: adversarial training runs in fp32 or bf16"),
])
def test_bad_adversarial_values_are_named(changes, message):
    with pytest.raises(ConfigError, match=message):
        make_config(E2E, **changes)


def test_only_extract_tasks_train_adversarially(tmp_path):
    with pytest.raises(ConfigError, match="adversarial: only an extract task trains adversarially"):
        make_config("distill", teacher=tmp_path / "t.pt", adversarial=ADV)
