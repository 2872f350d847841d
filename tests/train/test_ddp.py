"""Two CPU processes (gloo, localhost): DDP gradients equal single-process gradients, and a
distributed Trainer run keeps both processes' weights equal with rank 0 alone writing."""
import socket

import torch
import torch.multiprocessing as mp

import train_helpers
from tsepn.losses import build_loss
from tsepn.train import model_io
from tsepn.train.data import collate
from tsepn.train.distributed import init_distributed, shutdown, wrap_ddp
from tsepn.train.stages import ExtractTask, freeze


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_task():
    torch.manual_seed(0)
    model = train_helpers.toy_build("toy_teacher")
    trained = freeze(model, ["encoder", "head", "main"])
    return ExtractTask(model, build_loss([{"name": "snr"}]), trained, {"mix": "mix", "pos": "pos_clean"},
                       chunk=100, detach=False)


def full_batch():
    data = train_helpers.ToyData(size=2, seed=5)
    return collate([data[0], data[1]])


def gradients(task):
    return {n: p.grad.detach().clone() for n, p in task.model.named_parameters()}


def worker(rank, port, out_dir):
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    ctx = init_distributed("cpu")
    try:
        # 1. gradients of one step on this process's half of the batch
        task = make_task()
        net = wrap_ddp(task, ctx)
        batch = {k: v[rank : rank + 1] for k, v in full_batch().items()}
        loss, _ = net(batch)
        loss.backward()
        torch.save(gradients(task), f"{out_dir}/grads{rank}.pt")

        # 2. a short distributed training run
        model_io.build_model, model_io.save_model = train_helpers.toy_build, train_helpers.toy_save
        from tsepn.train.trainer import Trainer

        cfg = train_helpers.make_config("teacher", model="toy_teacher", train={"epochs": 2})
        trainer = Trainer(cfg, f"{out_dir}/exp", ctx=ctx)
        trainer.run()
        torch.save({"weights": trainer.model.state_dict(), "history": trainer.history, "steps": trainer.step},
                   f"{out_dir}/run{rank}.pt")

        # 3. the same with a discriminator (its own DDP wrapper and optimizer)
        adversarial = {"discriminator": {"name": "waveform", "args": {"scales": 2, "width": 8, "layers": 2, "groups": 2}},
                       "feature_matching": 1.0}
        cfg = train_helpers.make_config("teacher", model="toy_teacher", train={"epochs": 1}, adversarial=adversarial)
        trainer = Trainer(cfg, f"{out_dir}/adv", ctx=ctx)
        trainer.run()
        torch.save({"weights": trainer.model.state_dict(), "disc": trainer.adversary.discriminator.state_dict(),
                    "history": trainer.history}, f"{out_dir}/adv{rank}.pt")
    finally:
        shutdown()


def test_two_process_gradients_and_run(tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)

    task = make_task()
    loss, _ = task(full_batch())
    loss.backward()
    single = gradients(task)
    for rank in range(2):
        ddp = torch.load(tmp_path / f"grads{rank}.pt", weights_only=True)
        for name, grad in single.items():
            assert torch.allclose(ddp[name], grad, rtol=1e-5, atol=1e-7), (rank, name)

    runs = [torch.load(tmp_path / f"run{rank}.pt", weights_only=True) for rank in range(2)]
    for name, value in runs[0]["weights"].items():
        assert torch.equal(value, runs[1]["weights"][name]), name
    # 6 examples per epoch, batch 2 per process -> 2 steps per epoch (3 examples per process)
    assert runs[0]["steps"] == runs[1]["steps"] == 4
    # the validation figure is the all-process mean: identical on both
    assert [r["valid_loss"] for r in runs[0]["history"]] == [r["valid_loss"] for r in runs[1]["history"]]
    last = torch.load(tmp_path / "exp/checkpoints/last.pt", weights_only=True)
    assert last["epoch"] == 2 and (tmp_path / "exp/model.pt").is_file()

    adv = [torch.load(tmp_path / f"adv{rank}.pt", weights_only=True) for rank in range(2)]
    for key in ("weights", "disc"):
        for name, value in adv[0][key].items():
            assert torch.equal(value, adv[1][key][name]), (key, name)
    # train figures are each process's own batches; both took discriminator and generator steps
    assert all({"adv_d", "adv_g", "feature_matching"} <= set(a["history"][0]["train"]) for a in adv)
