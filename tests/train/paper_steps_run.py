"""Run the paper's three training steps (teacher -> stage 1 -> stage 2) of the mini recipe's
configs for one step each on toy data, and save the weights and figures of every step.

    python paper_steps_run.py OUT_DIR TEACHER.yaml STAGE1.yaml STAGE2.yaml

Run by tests/train/test_paper_steps.py twice: with the tsepn of the commit before task
configs (stage: teacher|distill|extract) on its configs, and with this tree on the
converted configs; PYTHONPATH picks the tsepn. Only the data and the run's size are
overridden (the same way for both); paths `exp/teacher_mini/`, `exp/stage1_mini/` (the
old configs) and `${exp}/` (the new) point into OUT_DIR.
"""
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import train_helpers  # noqa: E402,F401  (registers the `toy` dataset)
from tsepn.train.schema import load_train_config  # noqa: E402
from tsepn.train.trainer import Trainer  # noqa: E402

STEPS = ("teacher", "stage1", "stage2")
OVERRIDES = [
    "data.train={type: toy, args: {size: 4, seconds: 1.6}}",
    "data.valid={type: toy, args: {size: 2, seed: 9, seconds: 1.6}}",
    "data.examples_per_epoch=2", "data.batch_size=2", "data.valid_examples=2", "data.valid_batch_size=2",
    "data.num_workers=0",
    "train.epochs=1", "train.sample_rate=800", "train.chunk_seconds=0.64", "train.device=cpu",
    "train.tensorboard=false", "train.progress=false", "train.threads=1",
]
TIMING = ("seconds", "examples_per_second")


def main(out: str, *configs: str) -> None:
    torch.set_num_threads(1)
    out_dir = Path(out)
    exp = out_dir / "exp"
    results = {}
    for step, path in zip(STEPS, configs):
        text = Path(path).read_text()
        for old, new in (("${exp}/", f"{exp}/"), ("exp/teacher_mini/", f"{exp}/teacher/"),
                         ("exp/stage1_mini/", f"{exp}/stage1/"), ("${data}/", "data/"),
                         ("${simulate_config}", "conf/simulate.yaml")):
            text = text.replace(old, new)
        resolved = out_dir / f"{step}.yaml"
        resolved.write_text(text)
        cfg = load_train_config(resolved, OVERRIDES)
        trainer = Trainer(cfg, exp / step)
        trainer.run()
        history = [{k: v for k, v in record.items() if k not in TIMING} for record in trainer.history]
        results[step] = {"state_dict": {k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
                         "history": history, "trained": sorted(trainer.task.trained_groups)}
    torch.save(results, out_dir / "results.pt")


if __name__ == "__main__":
    main(*sys.argv[1:])
