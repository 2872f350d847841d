"""What README promises about re-runs and logs of training:

- on one machine, with the same thread count, re-running a training step gives byte-identical
  weights (real tiny teacher + stage-1 distillation, so the teacher's forward pass is included);
- the trainer's epoch progress written to a non-terminal is plain lines, no carriage returns.
"""
import numpy as np
import torch

from train_helpers import make_config
from tsepn.models.checkpoint import load_model
from tsepn.train.trainer import Trainer

TINY = dict(n_layers=1, fusion_layers=[0], lstm_hidden=4, emb_dim=4, n_heads=1, approx_qk_dim=8,
            attention_span=8, fusion="film", fusion_args={}, encoder_layers=1, encoder_lstm_hidden=4,
            encoder_emb_dim=4, encoder_emb_ks=1, sample_rate=800)
DATA = {"train": {"type": "toy", "args": {"size": 6, "seconds": 1.6}},
        "valid": {"type": "toy", "args": {"size": 2, "seed": 9, "seconds": 1.6}}, "examples_per_epoch": 4}
TRAIN = {"epochs": 2, "chunk_seconds": 0.4, "keep_best": 1, "threads": 1}
TEACHER = {"kind": "extract", "inputs": {"mix": "mix", "pos": "pos_clean"}, "train": ["encoder", "main"]}


def weight_bytes(path):
    """name -> raw bytes of every tensor of a tsepn model file."""
    return {k: v.detach().contiguous().numpy().tobytes() for k, v in load_model(path).state_dict().items()}


def teacher(exp):
    Trainer(make_config(TEACHER, model="teacher", model_args=TINY, data=DATA, train=TRAIN,
                        optim={"lr": {"encoder": 0.005, "main": 0.005}}), exp).run()
    return exp / "model.pt"


def stage1(exp, teacher_file):
    Trainer(make_config("distill", model="posneg", model_args=dict(TINY, head_layers=1, head_heads=1), data=DATA,
                        train=TRAIN, optim={"lr": {"encoder": 0.005, "head": 0.005}}, teacher=teacher_file),
            exp).run()
    return exp / "model.pt"


def test_a_rerun_gives_byte_identical_weights(tmp_path):
    first, second = teacher(tmp_path / "a/teacher"), teacher(tmp_path / "b/teacher")
    a, b = weight_bytes(first), weight_bytes(second)
    assert a == b
    start = make_config(TEACHER, model="teacher", model_args=TINY, data=DATA, train=TRAIN,
                        optim={"lr": {"encoder": 0.005, "main": 0.005}})
    untrained = Trainer(start, tmp_path / "untrained").model.state_dict()
    assert any(not np.array_equal(v.numpy(), np.frombuffer(a[k], dtype=np.float32).reshape(v.shape))
               for k, v in untrained.items() if v.dtype == torch.float32), "training changed nothing"
    # stage 1 twice from the same teacher file: the teacher's forward pass and the student's steps
    s1, s2 = stage1(tmp_path / "a/stage1", first), stage1(tmp_path / "b/stage1", first)
    assert weight_bytes(s1) == weight_bytes(s2)
    # the training state too (optimizer moments, RNG states): a resume continues identically
    la = torch.load(tmp_path / "a/stage1/checkpoints/last.pt", weights_only=True)
    lb = torch.load(tmp_path / "b/stage1/checkpoints/last.pt", weights_only=True)
    for group_a, group_b in zip(la["optimizer"]["state"].values(), lb["optimizer"]["state"].values()):
        for key in group_a:
            assert torch.equal(group_a[key], group_b[key]), key


def test_epoch_progress_in_a_log_is_plain_lines(toys, tmp_path, capsys):
    cfg = make_config("extract", train={"epochs": 2, "progress": True})  # 6 examples / batch 2: 3 batches
    Trainer(cfg, tmp_path / "exp").run()
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert [line.split(",")[0] for line in lines] == [
        f"epoch {e}: {p}% {n}/3 batch" for e in (1, 2) for p, n in ((33, 1), (67, 2), (100, 3))]
    assert all("loss=" in line and "ex_per_s=" in line for line in lines)
    assert any(line.startswith("valid: 100% ") for line in err.splitlines())
