"""Task configs: checks before training (each a ConfigError naming the key), an end-to-end
task, and a model with train_outputs trained on a waveform loss plus a speaker loss."""
import pytest
import torch

from tsepn.config import ConfigError
from tsepn.train.trainer import Trainer

from train_helpers import make_config

E2E = {"kind": "extract", "train": ["encoder", "head", "main"]}
SPEAKER_TASK = {"kind": "extract", "train": ["speaker", "main"]}
SPEAKER_DATA = {"train": {"type": "toy", "args": {"size": 8, "speakers": 3}},
                "valid": {"type": "toy", "args": {"size": 4, "seed": 9, "speakers": 3}}}
SPEAKER_LOSS = [{"name": "snr"}, {"name": "cross_entropy", "weight": 0.5, "output": "speaker_logits", "target": "spk"}]


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_end_to_end_task_trains_every_group(toys, tmp_path):
    trainer = Trainer(make_config(E2E, train={"epochs": 1}), tmp_path / "exp")
    before = weights(trainer.model)
    trainer.run()
    after = weights(trainer.model)
    assert set(trainer.task.trained_groups) == {"encoder", "head", "main"}
    assert all(not torch.equal(before[k], after[k]) for k in before)
    assert {"snr", "si_snri", "si_snri_wrong_enroll"} == set(trainer.history[0]["valid"])


def test_train_outputs_feed_a_speaker_loss(toys, tmp_path):
    cfg = make_config(SPEAKER_TASK, model="toy_speaker", loss=SPEAKER_LOSS, data=SPEAKER_DATA,
                      optim={"lr": {"speaker": 1e-2, "main": 1e-2}}, train={"epochs": 2})
    trainer = Trainer(cfg, tmp_path / "exp")
    assert trainer.task.inputs == {"mix": "mix", "pos": "pos"}  # model.inputs, identity mapping
    before = weights(trainer.model)
    trainer.run()
    after = weights(trainer.model)
    assert not torch.equal(before["classifier.weight"], after["classifier.weight"])
    valid = trainer.history[-1]["valid"]
    assert {"snr", "cross_entropy", "si_snri", "si_snri_wrong_enroll"} == set(valid)
    assert [g["name"] for g in trainer.optimizer.param_groups] == ["speaker", "main"]


@pytest.mark.parametrize("changes, message", [
    # an input the model does not take, or one it takes and is not fed
    ({"task": dict(SPEAKER_TASK, inputs={"mix": "mix", "pos": "pos", "neg": "neg"})},
     r"task\.inputs\.neg: model 'toy_speaker' does not take input 'neg' \(it takes mix, pos\)"),
    ({"task": dict(SPEAKER_TASK, inputs={"mix": "mix"})}, r"task\.inputs: model 'toy_speaker' takes mix, pos; map task\.inputs\.pos"),
    # a batch field the data does not have
    ({"task": dict(SPEAKER_TASK, inputs={"mix": "mix", "pos": "enroll_clean"})},
     r"task\.inputs\.pos: no batch field 'enroll_clean' in the data\.valid data \(its fields: key, mix, "),
    # groups the model does not have
    ({"task": dict(SPEAKER_TASK, train=["encoder", "main"]), "optim": {"lr": {"encoder": 1.0, "main": 1.0}}},
     r"task\.train: no group 'encoder'; model 'toy_speaker' has parameter groups speaker, main"),
    ({"optim": {"lr": {"speaker": 1.0, "main": 1.0, "head": 0.0}}}, r"optim\.lr\.head: no such group"),
    ({"init": {"warm_start": [{"path": "x.pt", "groups": ["main", "decoder"]}]}},
     r"init\.warm_start\[0\]\.groups: no group decoder"),
    # losses on outputs the model does not produce, or targets nowhere
    ({"loss": [{"name": "mse", "output": "pitch", "target": "ref"}]},
     r"loss\[0\]\.output: the extract task with model ToySpeakerNet produces no output 'pitch' \(its outputs: "
     r"speaker_embedding, speaker_logits, wave\)"),
    ({"loss": [{"name": "snr"}, {"name": "l1", "target": "pitch"}]},
     r"loss\[1\]\.target: 'pitch' is neither a batch field of the data\.valid data"),
])
def test_bad_tasks_fail_before_training_naming_the_key(toys, tmp_path, changes, message):
    sections = dict(loss=SPEAKER_LOSS, data=SPEAKER_DATA, optim={"lr": {"speaker": 1e-2, "main": 1e-2}})
    sections.update(changes)
    task = sections.pop("task", SPEAKER_TASK)
    cfg = make_config(task, model="toy_speaker", **sections)
    with pytest.raises(ConfigError, match=message):
        Trainer(cfg, tmp_path / "exp")
    assert not (tmp_path / "exp" / "checkpoints").exists()


def test_a_model_without_the_output_is_named(toys, tmp_path):
    cfg = make_config("extract", loss=[{"name": "cross_entropy", "output": "speaker_logits", "target": "spk"}],
                      data=SPEAKER_DATA)
    with pytest.raises(ConfigError, match=r"loss\[0\]\.output: .*ToyPosNeg produces no output 'speaker_logits' "
                                          r"\(its outputs: wave\)"):
        Trainer(cfg, tmp_path / "exp")


def test_a_training_set_without_a_field_stops_before_the_first_step(toys, tmp_path):
    data = {"train": {"type": "toy", "args": {"size": 8}}, "valid": SPEAKER_DATA["valid"]}
    cfg = make_config(SPEAKER_TASK, model="toy_speaker", loss=SPEAKER_LOSS, data=data,
                      optim={"lr": {"speaker": 1e-2, "main": 1e-2}}, train={"epochs": 1})
    trainer = Trainer(cfg, tmp_path / "exp")
    before = weights(trainer.model)
    with pytest.raises(ConfigError, match=r"loss\[1\]\.target: no batch field 'spk' in the data\.train data"):
        trainer.run()
    assert all(torch.equal(v, weights(trainer.model)[k]) for k, v in before.items())


def test_teacher_input_is_a_checked_batch_field(toys, tmp_path):
    from train_helpers import toy_build, toy_save

    path = tmp_path / "teacher.pt"
    toy_save(path, toy_build("toy_teacher"))
    cfg = make_config(
        {"kind": "distill", "train": ["encoder", "head"], "teacher": {"path": str(path), "input": "enroll_clean"}},
        loss=[{"name": "mse", "output": "embedding", "target": "teacher_embedding"}])
    with pytest.raises(ConfigError, match=r"task\.teacher\.input: no batch field 'enroll_clean'"):
        Trainer(cfg, tmp_path / "exp")
    # a distill loss left at the defaults (wave vs ref) names the outputs a distill task has
    cfg = make_config("distill", teacher=path, loss=[{"name": "mse"}])
    with pytest.raises(ConfigError, match=r"loss\[0\]\.output: the distill task .* produces no output 'wave' "
                                          r"\(its outputs: embedding, teacher_embedding\)"):
        Trainer(cfg, tmp_path / "exp")


class Delayed(torch.nn.Module):
    """Outputs gain x its mixture `latency` samples late (a streaming model with look-ahead)."""

    inputs = ("mix", "pos")
    delay = latency = 3  # what it does, what it declares

    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.ones(1))

    def param_groups(self):
        return {"main": [self.gain]}

    def encode(self, pos, neg=None):
        return None

    def init_state(self, batch):
        return None

    def forward(self, mix, cond, state=None):
        past = mix.new_zeros(*mix.shape[:-1], self.delay) if state is None else state
        joined = torch.cat([past, mix], dim=-1)
        return self.gain * joined[..., :mix.shape[-1]], joined[..., mix.shape[-1]:]


def test_the_output_is_compared_with_the_reference_after_the_model_latency():
    from tsepn.losses import build_loss
    from tsepn.train.stages import ExtractTask, freeze

    model = Delayed()
    task = ExtractTask(model, build_loss([{"name": "snr"}]), freeze(model, ["main"]), {"mix": "mix", "pos": "pos"},
                       chunk=40, detach=False).eval()
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(2, 1, 100, generator=g)
    batch = {"mix": mix, "ref": mix.clone(), "pos": torch.randn(2, 1, 50, generator=g), "key": ["a", "b"]}
    loss, stats = task(batch)
    # out[..., 3:] is exactly ref[..., :-3]: a perfect extraction once aligned
    assert loss.item() < -60
    assert stats["si_snri"].item() == pytest.approx(0.0, abs=1e-3)  # the mixture itself, also aligned
    model.latency = 0  # declared wrongly: compared unaligned, the delayed copy is a poor estimate
    assert task(batch)[0].item() > -3
