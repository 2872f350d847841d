"""The trainer's second model and optimizer (`adversarial:`): a discriminator step changes only the
discriminator, the generator's adversarial term changes only the generator, the schedule, checkpoints."""
import pytest
import torch

from tsepn.config import ConfigError
from tsepn.train.adversarial import Adversary, gradient_penalty
from tsepn.train.schema import AdversarialConf
from tsepn.train.trainer import Trainer

from train_helpers import SR, make_config

E2E = {"kind": "extract", "train": ["encoder", "head", "main"]}
DISC = {"name": "multiscale", "args": {"scales": 2, "channels": 4, "max_channels": 16, "layers": 2}}


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def adversary(**changes):
    conf = AdversarialConf(enabled=True, discriminator=DISC, lr=1e-2, **changes)
    return Adversary(conf, torch.device("cpu"))


def test_a_discriminator_step_changes_the_discriminator_only():
    torch.manual_seed(0)
    generator = torch.nn.Conv1d(1, 1, 5, padding=2)
    adv = adversary(gradient_penalty=10.0)
    g_before, d_before = snapshot(generator), snapshot(adv.disc)
    real, mix = torch.randn(2, 1, 400), torch.randn(2, 1, 400)
    fake = generator(mix)
    stats = adv.discriminator_step(real, fake)
    assert {"adv_discriminator", "adv_gradient_penalty"} == set(stats)
    assert same(g_before, snapshot(generator))
    assert all(p.grad is None for p in generator.parameters())
    assert not same(d_before, snapshot(adv.disc))
    assert adv.steps == 1


def test_the_generator_term_reaches_the_generator_only():
    torch.manual_seed(0)
    generator = torch.nn.Conv1d(1, 1, 5, padding=2)
    adv = adversary()
    adv.generator_loss(generator(torch.randn(2, 1, 400))).backward()
    assert all(p.grad is None for p in adv.disc.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in generator.parameters())


def test_gradient_penalty_is_zero_for_a_unit_slope_critic():
    class Linear(torch.nn.Module):  # D(x) = sum(x * w) with ||w|| = 1: gradient norm 1 everywhere
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1, 1, 4) / 2.0)

        def forward(self, x):
            return (x * self.w).sum(-1, keepdim=True)

    assert gradient_penalty(Linear(), torch.randn(3, 1, 4), torch.randn(3, 1, 4)).item() == pytest.approx(0.0, abs=1e-10)


def test_schedule_warm_up_then_discriminator_only_then_both():
    adv = adversary(warmup_steps=2, discriminator_steps=3, weight=0.5)
    assert [adv.discriminator_on(s) for s in (0, 1, 2, 4, 5)] == [False, False, True, True, True]
    assert [adv.generator_on(s) for s in (1, 2, 4, 5, 9)] == [False, False, False, True, True]


def test_trainer_runs_the_two_optimizers_and_resumes_the_discriminator(toys, tmp_path):
    adversarial = {"enabled": True, "discriminator": DISC, "weight": 0.1, "lr": 1e-3, "warmup_steps": 2,
                   "discriminator_steps": 1, "gradient_penalty": 1.0}
    cfg = make_config(E2E, adversarial=adversarial, train={"epochs": 1, "chunk_seconds": None})
    trainer = Trainer(cfg, tmp_path / "exp")
    d_before = snapshot(trainer.adversary.disc)
    trainer.run()
    steps = trainer.step  # 6 examples / batch 2 = 3 generator steps: steps 0, 1 warm-up
    assert steps == 3 and trainer.adversary.steps == 1
    assert not same(d_before, snapshot(trainer.adversary.disc))
    assert "adv_discriminator" in trainer.history[0]["train"]
    state = torch.load(tmp_path / "exp" / "checkpoints" / "last.pt", weights_only=True)
    assert state["adversarial"]["steps"] == 1
    resumed = Trainer(make_config(E2E, adversarial=adversarial, train={"epochs": 2, "chunk_seconds": None}),
                      tmp_path / "exp", resume=True)
    assert same(snapshot(trainer.adversary.disc), snapshot(resumed.adversary.disc))
    assert resumed.adversary.steps == 1
    resumed.run()
    assert resumed.adversary.steps == 4  # generator steps 3..5, all past the warm-up
    assert "adv_generator" in resumed.history[-1]["train"]
    # the model file holds the generator only
    assert "adversarial" not in torch.load(tmp_path / "exp" / "model.pt", weights_only=True)


@pytest.mark.parametrize("changes, message", [
    ({"output": "speaker_logits"}, r"adversarial\.output: the model produces no output 'speaker_logits'"),
    ({"target": "clean"}, r"adversarial\.target: no batch field 'clean'"),
    ({"loss": "wgan"}, r"adversarial\.loss: must be one of lsgan, hinge"),
    ({"discriminator": {"name": "patch"}}, r"adversarial\.discriminator: .*unknown discriminator 'patch'"),
])
def test_bad_adversarial_sections_are_named(toys, tmp_path, changes, message):
    cfg = make_config(E2E, adversarial={"enabled": True, "discriminator": DISC, **changes})
    with pytest.raises(ConfigError, match=message):
        Trainer(cfg, tmp_path / "exp")


def test_only_extract_tasks_take_an_adversary():
    with pytest.raises(ConfigError, match=r"adversarial\.enabled: adversarial refinement needs an extract task"):
        make_config("distill", teacher="t.pt", adversarial={"enabled": True})
