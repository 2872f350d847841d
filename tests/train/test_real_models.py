"""The paper's three tasks end to end with tsepn's real (tiny) teacher and pos/neg models and real model files."""
import torch

from train_helpers import make_config
from tsepn.models.checkpoint import load_model
from tsepn.train.trainer import Trainer

TINY = dict(n_layers=1, fusion_layers=[0], lstm_hidden=4, emb_dim=4, n_heads=1, approx_qk_dim=8,
            attention_span=8, fusion_args=dict(n_heads=1, approx_qk_dim=8, pooling_size=4, pooling_stride=4),
            encoder_layers=1, encoder_lstm_hidden=4, encoder_emb_dim=4, encoder_emb_ks=1, sample_rate=800)
DATA = {"train": {"type": "toy", "args": {"size": 4, "seconds": 1.6}},
        "valid": {"type": "toy", "args": {"size": 2, "seed": 9, "seconds": 1.6}}, "examples_per_epoch": 2}
LR = {"encoder": 0.005, "head": 0.005, "main": 0.005}
TEACHER_LR = {"encoder": 0.005, "main": 0.005}  # the teacher has no head
TRAIN = {"epochs": 2, "chunk_seconds": 0.4, "keep_best": 2}


def test_teacher_distill_extract_with_real_models(tmp_path):
    teacher_task = {"kind": "extract", "inputs": {"mix": "mix", "pos": "pos_clean"}, "train": ["encoder", "main"]}
    Trainer(make_config(teacher_task, model="teacher", model_args=TINY, data=DATA, optim={"lr": TEACHER_LR},
                        train=TRAIN), tmp_path / "teacher").run()
    posneg = dict(TINY, head_layers=1, head_heads=1)
    Trainer(make_config("distill", model="posneg", model_args=posneg, data=DATA, optim={"lr": LR}, train=TRAIN,
                        teacher=tmp_path / "teacher/model.pt"), tmp_path / "stage1").run()
    stage1 = load_model(tmp_path / "stage1/model.pt")
    stage2 = Trainer(make_config("extract", model="posneg", model_args=posneg, data=DATA, optim={"lr": LR},
                                 train=dict(TRAIN, detach_state=True), distilled=tmp_path / "stage1/model.pt"),
                     tmp_path / "stage2")
    frozen = {n: p.detach().clone() for n, p in stage2.model.named_parameters() if not p.requires_grad}
    assert frozen and all(torch.equal(p, stage1.state_dict()[n]) for n, p in frozen.items())
    stage2.run()
    for name, p in stage2.model.named_parameters():
        if name in frozen:
            assert torch.equal(p, frozen[name]), name
    # the best model file and the best-2 average both load as tsepn models
    assert isinstance(load_model(tmp_path / "stage2/model.pt"), type(stage2.model))
    from tsepn.bin.average_checkpoints import main as average

    assert average(["--exp-dir", str(tmp_path / "stage2"), "--num", "2"]) == 0
    assert isinstance(load_model(tmp_path / "stage2/model_avg2.pt"), type(stage2.model))
