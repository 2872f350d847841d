"""The adversarial section's discriminator step and gradient penalty (basesB's additions to tsepn.train.adversarial):
a step that updates only the discriminator leaves the generator unchanged, the penalty's value and its config."""
import pytest
import torch

from tsepn.config import ConfigError, from_dict
from tsepn.train.adversarial import Adversary, gradient_penalty
from tsepn.train.distributed import init_distributed
from tsepn.train.schema import AdversarialConf
from tsepn.train.trainer import Trainer

from train_helpers import make_config

E2E = {"kind": "extract", "train": ["encoder", "head", "main"]}
DISC = {"name": "waveform", "args": {"scales": 2, "width": 8, "layers": 2, "groups": 2}}


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def adversary(**changes):
    conf = from_dict(AdversarialConf, {"discriminator": DISC, "lr": 1e-2, **changes}, source="<test>")
    return Adversary(conf, torch.device("cpu"), init_distributed("cpu"))


@pytest.mark.parametrize("penalty", [0.0, 10.0])
def test_a_discriminator_step_changes_the_discriminator_only(penalty):
    torch.manual_seed(0)
    generator = torch.nn.Conv1d(1, 1, 5, padding=2)
    adv = adversary(gradient_penalty=penalty)
    g0, d0 = snapshot(generator), snapshot(adv.discriminator)
    fake = generator(torch.randn(2, 1, 400))
    stats = adv.discriminator_step(fake, torch.randn(2, 1, 400))
    assert ("adv_gp" in stats) == (penalty > 0) and "adv_d" in stats
    assert all(torch.equal(g0[k], v) for k, v in snapshot(generator).items())
    assert all(p.grad is None for p in generator.parameters())
    assert any(not torch.equal(d0[k], v) for k, v in snapshot(adv.discriminator).items())


def test_gradient_penalty_is_zero_for_a_unit_slope_critic_and_positive_otherwise():
    class Linear(torch.nn.Module):  # D(x) = <x, w>: the same gradient w everywhere
        def __init__(self, norm):
            super().__init__()
            self.w = torch.nn.Parameter(torch.full((1, 1, 4), norm / 2.0))

        def forward(self, x):
            return (x * self.w).sum(-1, keepdim=True)

    real, fake = torch.randn(3, 1, 4), torch.randn(3, 1, 4)
    assert gradient_penalty(Linear(1.0), real, fake).item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(Linear(3.0), real, fake).item() == pytest.approx(4.0, rel=1e-5)  # (3 - 1)^2
    critic = Linear(3.0)
    gradient_penalty(critic, real, fake).backward()  # differentiable in the critic's weights
    assert critic.w.grad.abs().sum() > 0


def test_the_trainer_reports_the_penalty(toys, tmp_path):
    adv = {"discriminator": DISC, "weight": 0.5, "lr": 1e-3, "gradient_penalty": 1.0, "start_step": 2}
    trainer = Trainer(make_config(E2E, adversarial=adv, train={"epochs": 1}), tmp_path / "exp")
    trainer.run()
    assert {"adv_d", "adv_gp", "adv_g"} <= set(trainer.history[0]["train"])


def test_a_negative_penalty_is_named():
    with pytest.raises(ConfigError, match=r"adversarial\.gradient_penalty: must be >= 0"):
        make_config(E2E, adversarial={"discriminator": DISC, "gradient_penalty": -1.0})
