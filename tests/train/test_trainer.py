"""The training loop on toy models: files, freezing, exact resume, faults, task inputs."""
import logging

import pytest
import torch

from tsepn.config import ConfigError
from tsepn.train import checkpoint as ckpt
from tsepn.train.stages import StageError
from tsepn.train.trainer import Trainer, TrainingError

from train_helpers import make_config, toy_build, toy_load, toy_save


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def distilled_file(tmp_path, **args):
    """A stage-1 model file: the toy model with a recognisable encoder."""
    model = toy_build("toy_posneg", **args)
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.fill_(0.25)
    path = tmp_path / "stage1_model.pt"
    toy_save(path, model)
    return path


def test_extract_run_writes_its_files_and_freezes_encoder_and_head(toys, tmp_path):
    init = distilled_file(tmp_path, dropout=0.5)
    cfg = make_config("extract", model_args={"dropout": 0.5}, distilled=init,
                      train={"epochs": 3, "tensorboard": True})
    trainer = Trainer(cfg, tmp_path / "exp")
    before = weights(trainer.model)
    assert torch.all(before["encoder.0.weight"] == 0.25)  # stage-1 weights loaded
    trainer.run()
    after = weights(trainer.model)
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    main = {names[id(p)] for p in trainer.model.param_groups()["main"]}
    assert "cond_proj.weight" in main
    for name in before:
        changed = not torch.equal(before[name], after[name])
        assert changed == (name in main), name
    # frozen parameters: no gradient, no optimizer state, eval mode (dropout off)
    assert len(trainer.optimizer.state_dict()["state"]) == len(main) == 5
    assert all(not p.requires_grad for p in trainer.model.encoder.parameters())
    trainer.task.train()
    assert not trainer.model.encoder.training and trainer.model.main.training

    exp = tmp_path / "exp"
    for name in ["config.yaml", "train.log", "curves.png", "model.pt", "checkpoints/last.pt",
                 "checkpoints/best.pt", "checkpoints/epoch2.pt"]:
        assert (exp / name).is_file(), name
    assert list((exp / "tensorboard").iterdir())
    last = torch.load(exp / "checkpoints/last.pt", weights_only=True)
    assert last["epoch"] == 3 and last["step"] == 9 and len(last["history"]) == 3
    assert len(list((exp / "checkpoints").glob("epoch*.model.pt"))) == 2  # keep_best
    assert "valid_loss=" in (exp / "train.log").read_text()
    assert {"si_snri", "si_snri_wrong_enroll", "snr"} == set(last["history"][-1]["valid"])


def run_to_end(toys, exp, cfg, resume=False):
    trainer = Trainer(cfg, exp, resume=resume)
    trainer.run()
    return trainer


def test_interrupted_and_resumed_run_is_bit_identical(toys, tmp_path):
    init = distilled_file(tmp_path)
    common = dict(distilled=init, train={"epochs": 4, "save_every": 1})
    straight = run_to_end(toys, tmp_path / "a", make_config("extract", **common))

    # Ctrl-C in the middle of epoch 3 (6 examples per epoch): the 16th training item raises
    cfg = make_config("extract", **common)
    trainer = Trainer(cfg, tmp_path / "b")
    trainer.train_set.interrupt_at_call = 16
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    assert torch.load(tmp_path / "b/checkpoints/last.pt", weights_only=True)["epoch"] == 2
    resumed = run_to_end(toys, tmp_path / "b", cfg, resume=True)

    a, b = weights(straight.model), weights(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.step == straight.step
    ha = [r["valid_loss"] for r in straight.history]
    hb = [r["valid_loss"] for r in resumed.history]
    assert ha == hb


def test_existing_run_needs_resume_and_finished_run_resumes_to_nothing(toys, tmp_path):
    cfg = make_config("extract", distilled=distilled_file(tmp_path), train={"epochs": 1})
    run_to_end(toys, tmp_path / "exp", cfg)
    with pytest.raises(TrainingError, match="already holds a training run.*--resume"):
        Trainer(cfg, tmp_path / "exp")
    trainer = run_to_end(toys, tmp_path / "exp", cfg, resume=True)
    assert trainer.epoch == 1 and trainer.step == 3


def test_nan_loss_steps_are_skipped_with_a_warning(toys, tmp_path, caplog):
    cfg = make_config("extract", distilled=distilled_file(tmp_path),
                      data={"train": {"type": "toy", "args": {"size": 8, "nan_at": list(range(8))}},
                            "examples_per_epoch": 2, "batch_size": 1},
                      train={"epochs": 1, "max_bad_steps": 3})
    trainer = Trainer(cfg, tmp_path / "exp")
    before = weights(trainer.model)
    with caplog.at_level(logging.WARNING):
        trainer.run()
    assert caplog.text.count("step skipped") == 2 and "non-finite loss" in caplog.text
    after = weights(trainer.model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert trainer.history[0]["skipped"] == 2


def test_too_many_bad_steps_in_a_row_stop_the_run(toys, tmp_path):
    cfg = make_config("extract", distilled=distilled_file(tmp_path),
                      data={"train": {"type": "toy", "args": {"size": 8, "nan_at": list(range(8))}}},
                      train={"epochs": 5, "max_bad_steps": 4})
    trainer = Trainer(cfg, tmp_path / "exp")
    with pytest.raises(TrainingError, match="4 steps in a row skipped .*non-finite loss.*lower learning rate"):
        trainer.run()
    assert trainer.epoch == 1  # epoch 1 (3 bad steps) completed and saved, epoch 2 stopped


def test_out_of_memory_skips_the_batch(toys, tmp_path, monkeypatch, caplog):
    cfg = make_config("extract", distilled=distilled_file(tmp_path), train={"epochs": 1})
    trainer = Trainer(cfg, tmp_path / "exp")
    real_forward = type(trainer.task).forward
    calls = {"n": 0}

    def flaky(self, batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(self, batch)

    monkeypatch.setattr(type(trainer.task), "forward", flaky)
    with caplog.at_level(logging.WARNING):
        trainer.run()
    assert "out of memory" in caplog.text
    assert trainer.history[0]["skipped"] == 1 and trainer.history[0]["steps"] == 2


def test_non_finite_weights_are_never_saved(toys, tmp_path):
    cfg = make_config("extract", distilled=distilled_file(tmp_path), train={"epochs": 1})
    trainer = run_to_end(toys, tmp_path / "exp", cfg)
    last = tmp_path / "exp/checkpoints/last.pt"
    saved = last.read_bytes()
    with torch.no_grad():
        trainer.model.base[0] = float("nan")
    with pytest.raises(TrainingError, match="non-finite.*nothing saved"):
        trainer._save(2, 0.0)
    assert last.read_bytes() == saved
    with pytest.raises(ckpt.CheckpointError, match="refusing to save non-finite"):
        ckpt.save_checkpoint(tmp_path / "x.pt", {"state_dict": {"w": torch.tensor([float("inf")])}})
    assert not (tmp_path / "x.pt").exists()


def test_stage2_warm_start_problems_are_clear_errors(toys, tmp_path):
    # without a warm start, the extract task trains `main` on a randomly initialised encoder + head
    trainer = Trainer(make_config("extract"), tmp_path / "exp")
    assert set(trainer.task.trained_groups) == {"main"}
    with pytest.raises(StageError, match=r"init.warm_start\[0\].path=.*nope.pt: no such file"):
        Trainer(make_config("extract", distilled=tmp_path / "nope.pt"), tmp_path / "exp2")
    wrong = distilled_file(tmp_path, dim=6)
    with pytest.raises(StageError, match=r"init.warm_start\[0\].path=.*does not fit the encoder \+ head .*shape mismatch encoder.0.weight"):
        Trainer(make_config("extract", distilled=wrong), tmp_path / "exp3")


def test_teacher_mismatch_is_a_clear_error(toys, tmp_path):
    path = tmp_path / "teacher.pt"
    toy_save(path, toy_build("toy_teacher", dim=6))
    with pytest.raises(StageError, match=r"teacher's embedding has shape \(1, 6, 50\).*embeds to \(1, 4, 50\)"):
        Trainer(make_config("distill", teacher=path), tmp_path / "exp")
    toy_save(path, toy_build("toy_posneg"))
    with pytest.raises(StageError, match="has no embed_clean"):
        Trainer(make_config("distill", teacher=path), tmp_path / "exp")
    with pytest.raises(ConfigError, match="task.teacher.path: a distill task needs the teacher's model file"):
        Trainer(make_config("distill"), tmp_path / "exp")


def test_teacher_then_distill_then_extract(toys, tmp_path):
    lr = {"encoder": 0.02, "head": 0.02, "main": 0.02}
    teacher = Trainer(make_config("teacher", model="toy_teacher", optim={"lr": lr}, train={"epochs": 2}),
                      tmp_path / "teacher")
    before = weights(teacher.model)
    teacher.run()
    after = weights(teacher.model)
    assert set(teacher.task.trained_groups) == {"encoder", "head", "main"}
    assert all(not torch.equal(before[k], after[k]) for k in before)  # trained end to end

    distill = Trainer(make_config("distill", teacher=tmp_path / "teacher/model.pt",
                                  optim={"lr": lr}, train={"epochs": 4}), tmp_path / "stage1")
    before = weights(distill.model)
    distill.run()
    after = weights(distill.model)
    for name in before:  # encoder + head trained, extractor untouched
        assert torch.equal(before[name], after[name]) == name.startswith(("main.", "base", "cond_proj")), name
    losses = [r["valid_loss"] for r in distill.history]
    assert losses[-1] < losses[0]  # the student moves towards the teacher's embedding
    assert set(distill.history[0]["valid"]) == {"mse", "relative_error"}
    assert set(distill.task.trained_groups) == {"encoder", "head"}

    stage1 = toy_load(tmp_path / "stage1/model.pt")
    extract = Trainer(make_config("extract", distilled=tmp_path / "stage1/model.pt"), tmp_path / "stage2")
    for name, p in stage1.named_parameters():
        if name.startswith(("encoder", "head")):
            assert torch.equal(p, dict(extract.model.named_parameters())[name]), name

    # warm start of the extractor from the teacher's (init.warm_start)
    warm = Trainer(make_config("extract", init={"warm_start": [
        {"path": str(tmp_path / "stage1/model.pt"), "groups": ["encoder", "head"], "buffers": True},
        {"path": str(tmp_path / "teacher/model.pt"), "groups": ["main"]}]}), tmp_path / "warm")
    teacher_model = toy_load(tmp_path / "teacher/model.pt")
    for name, p in warm.model.named_parameters():
        source = stage1 if name.startswith(("encoder", "head")) else teacher_model
        assert torch.equal(p, dict(source.named_parameters())[name]), name


def test_best_k_snapshots_average_into_a_model_file(toys, tmp_path):
    from tsepn.bin.average_checkpoints import main as average_main

    cfg = make_config("extract", distilled=distilled_file(tmp_path),
                      train={"epochs": 4, "keep_best": 2})
    run_to_end(toys, tmp_path / "exp", cfg)
    paths = ckpt.best_model_paths(tmp_path / "exp", 2)
    assert len(list((tmp_path / "exp/checkpoints").glob("epoch*.model.pt"))) == 2
    assert average_main(["--exp-dir", str(tmp_path / "exp"), "--num", "2"]) == 0
    averaged = toy_load(tmp_path / "exp/model_avg2.pt").state_dict()
    a, b = (toy_load(p).state_dict() for p in paths)
    for k in averaged:
        assert torch.allclose(averaged[k], (a[k] + b[k]) / 2)
    assert average_main(["--exp-dir", str(tmp_path / "exp"), "--num", "3"]) == 1


def test_command_line(toys, tmp_path, caplog):
    import yaml

    from tsepn.bin.train import main

    init = distilled_file(tmp_path)
    cfg = make_config("extract", distilled=init)
    from dataclasses import asdict

    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(asdict(cfg)))
    exp = tmp_path / "exp"
    assert main(["--config", str(path), "--exp-dir", str(exp), "train.epochs=1"]) == 0
    saved = yaml.safe_load((exp / "config.yaml").read_text())
    assert saved["init"]["warm_start"][0]["path"] == str(init) and saved["train"]["epochs"] == 1
    assert saved["task"]["kind"] == "extract" and saved["task"]["train"] == ["main"]
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(path), "--exp-dir", str(tmp_path / "e2"), "train.epoks=1"]) == 1
    assert "unknown key(s) train.epoks" in caplog.text
    assert main(["--config", str(path), "--exp-dir", str(tmp_path / "e3"), "task.train=[decoder]",
                 "optim.lr.decoder=0.1"]) == 1
    assert "task.train: no group 'decoder'" in caplog.text
    with pytest.raises(SystemExit):  # the paper's stages are configs now: no --stage option
        main(["--config", str(path), "--exp-dir", str(tmp_path / "e4"), "--stage", "extract"])


def test_resume_checks_the_task_and_reads_checkpoints_from_before_task_configs(toys, tmp_path):
    cfg = make_config("extract", distilled=distilled_file(tmp_path), train={"epochs": 1})
    run_to_end(toys, tmp_path / "exp", cfg)
    last = tmp_path / "exp/checkpoints/last.pt"
    state = torch.load(last, weights_only=True)
    assert state["task"] == {"kind": "extract", "train": ["main"]}
    other = make_config("extract", distilled=distilled_file(tmp_path), train={"epochs": 2},
                        task={"kind": "extract", "train": ["head", "main"]})
    with pytest.raises(TrainingError, match=r"is a 'extract' run training \['main'\].*training \['head', 'main'\]"):
        Trainer(other, tmp_path / "exp", resume=True)
    # a checkpoint of the stage-based trainer: its stage gives the kind
    del state["task"]
    state["stage"] = "extract"
    ckpt.save_checkpoint(last, state)
    longer = make_config("extract", distilled=distilled_file(tmp_path), train={"epochs": 2})
    assert run_to_end(toys, tmp_path / "exp", longer, resume=True).epoch == 2
    state = torch.load(last, weights_only=True)
    del state["task"]
    state["stage"] = "distill"
    ckpt.save_checkpoint(last, state)
    with pytest.raises(TrainingError, match="is a 'distill' run"):
        Trainer(longer, tmp_path / "exp", resume=True)
