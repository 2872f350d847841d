"""Benchmark: the training stages of `make demo` (recipe stages 4-6) on this machine.

    tsepn-bench demo [--recipe egs/librispeech_wham/mono] [--system proposed] [--steps 6] [--warmup 1]
                     [--processes 2] [--budget-minutes 12] [--data-dir DIR] [--work DIR] [key=value ...]

Each training step of the system (conf/systems/<system>/[4-6]_*.yaml, in the recipe's order,
placeholders filled as the recipe fills them) is built exactly as `tsepn.bin.train` builds it
and run for one short epoch: `--warmup` + `--steps` optimizer steps, its validation, and its
end-of-epoch work (checkpoints, model file, curves). Its model file then feeds the next step
(teacher -> stage 1 -> stage 2), as in the recipe. The data is a small mini corpus generated
from the recipe's conf/mini.yaml with fewer training speakers (`--train-speakers`; the cost of
an example does not depend on how many speakers it is drawn from) and the validation sets the
configs name, rendered from the recipe's conf/simulate.yaml; `--data-dir` uses an existing
recipe data folder instead.

For every stage it prints seconds per example (CPU time of this process, and wall time),
examples per second, the examples the demo config trains (epochs x examples_per_epoch, plus
epochs x valid_examples validated) and the stage's projected time:

    epochs x (train examples x s/example + valid examples x s/example) / processes
    + epochs x end-of-epoch work + process start

`--processes` (default 2, what `run.sh --ntrain auto` runs on a CPU with >= 2 cores) is the
number of DDP processes sharing the examples, each on one core. The CPU-time projection is
what an otherwise idle machine with that many cores gives; the wall-time projection is what
this machine gives now (higher when other programs share the cores). Judge a machine by the
ratio of the CPU projection to the budget: `--budget-minutes` (12) is the demo's target for
stages 4-6 on 2 cores. Each stage also gets a per-example CPU breakdown (teacher forward,
enrollment encoding, the rest of the forward pass and the loss, backward + optimizer, data).

Prints lines for reading, then, last, `name value` lines (`demo_<step>_cpu_s_per_example`,
`demo_<step>_projected_s`, `demo_projected_cpu_min`, `demo_projected_wall_min`,
`demo_budget_ratio`).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from tsepn.allocator import retain_freed_memory

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RECIPE = REPO / "egs" / "librispeech_wham" / "mono"
log = logging.getLogger("tsepn.bench.demo")


# --------------------------------------------------------------------------- clocks
class Clock:
    """Wall and CPU seconds spent inside `measure()` (nested calls count once)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.calls = 0
        self._depth = 0

    @contextlib.contextmanager
    def measure(self):
        self._depth += 1
        if self._depth > 1:
            try:
                yield
            finally:
                self._depth -= 1
            return
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu
            self.calls += 1
            self._depth -= 1

    def snapshot(self) -> "Tuple2":
        return Tuple2(self.wall, self.cpu)


@dataclass
class Tuple2:
    wall: float = 0.0
    cpu: float = 0.0

    def __sub__(self, other: "Tuple2") -> "Tuple2":
        return Tuple2(self.wall - other.wall, self.cpu - other.cpu)

    def __add__(self, other: "Tuple2") -> "Tuple2":
        return Tuple2(self.wall + other.wall, self.cpu + other.cpu)

    def scaled(self, factor: float) -> "Tuple2":
        return Tuple2(self.wall * factor, self.cpu * factor)


def timed(obj, name: str, clock: Clock) -> bool:
    """Route calls of obj.<name> through `clock` (an instance attribute over the method)."""
    fn = getattr(obj, name, None)
    if fn is None or not callable(fn):
        return False

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with clock.measure():
            return fn(*args, **kwargs)

    object.__setattr__(obj, name, wrapper)
    return True


# --------------------------------------------------------------------------- data
def make_bench_data(root: Path, recipe: Path, sets: Sequence[str], train_speakers: int) -> Path:
    """A mini corpus from the recipe's conf/mini.yaml (fewer training speakers), its data dirs
    train/dev + noise_tr/noise_cv with activity, and the rendered `sets`, under `root`."""
    from tsepn.bin.simulate_sets import simulate_sets
    from tsepn.data.brir import prepare_brirs
    from tsepn.data.activity import compute_dir_activity
    from tsepn.data.datadir import noise_dir_from_wham, speech_dir_from_librispeech
    from tsepn.data.mini import SUBSET_NAMES, load_mini_config, make_mini_corpus

    mini = recipe / "conf" / "mini.yaml"
    cfg = load_mini_config(mini if mini.is_file() else None,
                           [f"train.speakers={train_speakers}", "test.speakers=1", "noise.tt=1"])
    roots = make_mini_corpus(cfg, root / "corpus", progress=False)
    data = root / "data"
    for name in ("train", "dev"):
        speech_dir_from_librispeech(roots["librispeech"], SUBSET_NAMES[name], data / name)
        compute_dir_activity(data / name, progress=False)
    for split in ("tr", "cv"):
        noise_dir_from_wham(roots["wham"], split, data / f"noise_{split}")
    if "brirs" in roots:  # the binaural recipe: BRIR lists as its stage 1 writes them (1-s responses)
        prepare_brirs(roots["brirs"], data / "brir", max_seconds=1.0)
    if sets:
        simulate_sets(recipe / "conf" / "simulate.yaml", data, only=set(sets), progress=False)
    return data


def step_configs(recipe: Path, system: str) -> List[Path]:
    """The system's training configs in the order the recipe trains them (stage 4, 5, 6; name order)."""
    folder = recipe / "conf" / "systems" / system
    configs = [p for n in (4, 5, 6) for p in sorted(folder.glob(f"{n}_*.yaml"))]
    if not configs:
        raise SystemExit(f"tsepn-bench demo: no training configs {folder}/[4-6]_*.yaml")
    return configs


def step_name(path: Path) -> str:
    return path.stem.split("_", 1)[1]


# --------------------------------------------------------------------------- one stage
@dataclass
class StageResult:
    name: str
    batch_size: int
    steps: int                    # timed steps (after warm-up)
    train: Tuple2                 # seconds per training example (optimizer step only)
    data: Tuple2                  # seconds per training example spent loading/rendering data
    valid: Tuple2                 # seconds per validation example
    epoch_end: Tuple2             # seconds of end-of-epoch work (scheduler, checkpoints, model file, curves)
    setup: Tuple2                 # seconds to build the trainer (datasets, model, task, warm starts)
    breakdown: Dict[str, Tuple2]  # seconds per training example by part
    epochs: int = 0
    train_examples: int = 0       # per epoch, all processes together
    valid_examples: int = 0       # per epoch

    def projected(self, processes: int, start: Tuple2) -> Tuple2:
        per_epoch = (self.train + self.data).scaled(self.train_examples / processes) \
            + self.valid.scaled(math.ceil(self.valid_examples / processes)) + self.epoch_end
        return per_epoch.scaled(self.epochs) + self.setup + start


def bench_stage(config: Path, variables: Dict[str, str], exp_dir: Path, steps: int, warmup: int,
                overrides: Sequence[str]) -> StageResult:
    from tsepn.train.schema import load_train_config
    from tsepn.train.trainer import Trainer

    demo = load_train_config(config, overrides=list(overrides), variables=variables)
    batch = demo.data.batch_size
    run_cfg = load_train_config(config, variables=variables, overrides=[
        *overrides, "train.epochs=1", f"data.examples_per_epoch={(warmup + steps) * batch}",
        "train.tensorboard=false", "train.progress=false"])

    setup = Clock()
    with setup.measure():
        trainer = Trainer(run_cfg, exp_dir)
    train_examples = demo.data.examples_per_epoch or len(trainer.train_set)
    valid_examples = min(demo.data.valid_examples or len(trainer.valid_set), len(trainer.valid_set))

    clocks = {name: Clock() for name in ("step", "epoch", "valid", "run", "forward", "teacher", "enrollment")}
    task, model = trainer.task, trainer.model
    timed(trainer, "train_step", clocks["step"])
    timed(trainer, "train_epoch", clocks["epoch"])
    timed(trainer, "validate", clocks["valid"])
    timed(task, "forward", clocks["forward"])
    teacher = getattr(task, "teacher", None)
    if teacher is not None:
        timed(teacher, "embed_clean", clocks["teacher"])
    for name in ("encode", "embed", "embed_clean"):
        timed(model, name, clocks["enrollment"])

    # snapshots after the warm-up steps and at the end of the training steps
    marks: Dict[str, Dict[str, Tuple2]] = {}
    counted = {"steps": 0, "examples": 0, "timed_examples": 0}
    inner_step = trainer.train_step

    def counting_step(batch_):
        counted["steps"] += 1
        n = int(batch_["mix"].shape[0])
        counted["examples"] += n
        if counted["steps"] > warmup:
            counted["timed_examples"] += n
        if counted["steps"] == warmup + 1:
            marks["start"] = {k: c.snapshot() for k, c in clocks.items()}
        result = inner_step(batch_)
        marks["end"] = {k: c.snapshot() for k, c in clocks.items()}
        return result

    object.__setattr__(trainer, "train_step", counting_step)
    with clocks["run"].measure():
        trainer.run()
    if "start" not in marks:
        raise SystemExit(f"{config}: fewer than {warmup + 1} training steps ran; raise --steps")
    d = {k: marks["end"][k] - marks["start"][k] for k in clocks}
    n = max(1, counted["timed_examples"])
    per = lambda t: t.scaled(1.0 / n)  # noqa: E731
    data_all = clocks["epoch"].snapshot() - clocks["step"].snapshot()
    valid_seen = max(1, valid_examples)
    backward = d["step"] - d["forward"]
    rest = d["forward"] - d["teacher"] - d["enrollment"]
    breakdown = {}
    if teacher is not None:
        breakdown["teacher forward"] = per(d["teacher"])
    breakdown["enrollment encoding"] = per(d["enrollment"])
    breakdown["rest of forward + loss"] = per(rest)
    breakdown["backward + optimizer"] = per(backward)
    breakdown["data"] = data_all.scaled(1.0 / max(1, counted["examples"]))
    return StageResult(
        name=step_name(config), batch_size=batch, steps=counted["steps"] - warmup, train=per(d["step"]),
        data=breakdown["data"], valid=clocks["valid"].snapshot().scaled(1.0 / valid_seen),
        epoch_end=clocks["run"].snapshot() - clocks["epoch"].snapshot() - clocks["valid"].snapshot(),
        setup=setup.snapshot(), breakdown=breakdown, epochs=demo.train.epochs, train_examples=train_examples,
        valid_examples=valid_examples)


def process_start() -> Tuple2:
    """Wall and CPU seconds of starting a training process (python, torch, tsepn.train imports)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tsepn.train.trainer, tsepn.models"], check=True,
                   env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Tuple2(time.perf_counter() - wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime))


# --------------------------------------------------------------------------- report
def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def report(results: List[StageResult], processes: int, start: Tuple2, budget_minutes: float, out=None) -> Dict[str, float]:
    out = out or sys.stdout
    say = functools.partial(print, file=out)
    say(f"{'stage':<10} {'CPU s/ex':>9} {'wall s/ex':>9} {'ex/s CPU':>8} {'ex/s wall':>9} "
        f"{'valid s/ex':>10} {'examples (train + valid)':>25} {'projected CPU':>13} {'(wall)':>10}")
    figures: Dict[str, float] = {}
    total = Tuple2()
    for r in results:
        step = r.train + r.data
        proj = r.projected(processes, start)
        total = total + proj
        counts = f"{r.epochs}x{r.train_examples} + {r.epochs}x{r.valid_examples}"
        say(f"{r.name:<10} {step.cpu:9.3f} {step.wall:9.3f} {1 / max(step.cpu, 1e-9):8.2f} "
            f"{1 / max(step.wall, 1e-9):9.2f} {r.valid.cpu:10.3f} {counts:>25} {minutes(proj.cpu):>13} "
            f"{minutes(proj.wall):>10}")
        figures[f"demo_{r.name}_cpu_s_per_example"] = step.cpu
        figures[f"demo_{r.name}_wall_s_per_example"] = step.wall
        figures[f"demo_{r.name}_projected_s"] = proj.cpu
    say("per training example, CPU seconds (wall):")
    for r in results:
        parts = ", ".join(f"{k} {v.cpu:.3f} ({v.wall:.3f})" for k, v in r.breakdown.items())
        say(f"  {r.name}: {parts}; per epoch end {r.epoch_end.cpu:.2f} s, setup {r.setup.cpu:.1f} s "
            f"[{r.steps} steps of {r.batch_size}]")
    say(f"process start {start.cpu:.1f} s CPU ({start.wall:.1f} s wall) per stage")
    budget = budget_minutes * 60
    say(f"stages {'-'.join(r.name for r in results)} as {processes} process(es) of one core each: "
        f"projected {minutes(total.cpu)} from CPU time = {total.cpu / budget:.2f} x the {budget_minutes:g}-min budget; "
        f"{minutes(total.wall)} from wall time on this machine now = {total.wall / budget:.2f} x")
    figures["demo_projected_cpu_min"] = total.cpu / 60
    figures["demo_projected_wall_min"] = total.wall / 60
    figures["demo_budget_ratio"] = total.cpu / budget
    return figures


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="tsepn-bench demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, default=DEFAULT_RECIPE, help="recipe folder (default: %(default)s)")
    parser.add_argument("--system", default="proposed", help="conf/systems/<system>/ (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=6, help="timed optimizer steps per stage (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default: %(default)s)")
    parser.add_argument("--processes", type=int, default=2,
                        help="DDP processes of the demo, one core each (default: %(default)s, run.sh --ntrain auto)")
    parser.add_argument("--budget-minutes", type=float, default=12.0, help="target for stages 4-6 (default: %(default)s)")
    parser.add_argument("--train-speakers", type=int, default=40, help="training speakers of the generated corpus")
    parser.add_argument("--data-dir", type=Path, default=None, help="an existing recipe data folder (after stage 3)")
    parser.add_argument("--work", type=Path, default=None, help="keep the corpus and experiments here (default: a temporary folder)")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides for every stage's config "
                                                     "(e.g. train.threads=2, to measure a lever)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.processes < 1:
        parser.error("--steps and --processes must be >= 1, --warmup >= 0")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # the trainers' INFO lines go to their train.log only
        handler.setLevel(logging.WARNING)
    recipe = args.recipe.resolve()
    configs = step_configs(recipe, args.system)
    retain_freed_memory()  # as tsepn.bin.train does: the stages' steps are timed as they train

    with contextlib.ExitStack() as stack:
        if args.work:
            work = args.work.resolve()
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tsepn-bench-demo-")))
        exp = work / "exp" / args.system
        variables = {"exp": str(exp), "simulate_config": str(recipe / "conf" / "simulate.yaml")}
        if args.data_dir:
            data = args.data_dir.resolve()
        else:
            data = work / "data"
            variables["data"] = str(data)
            sets = sorted(valid_sets(configs, variables))
            print(f"generating a mini corpus ({args.train_speakers} training speakers) and {', '.join(sets)} "
                  f"under {work}", flush=True)
            clock = Clock()
            with clock.measure():
                make_bench_data(work, recipe, sets, args.train_speakers)
            print(f"  {clock.wall:.1f} s", flush=True)
        variables["data"] = str(data)
        import torch

        print(f"system {args.system}: {', '.join(str(c.relative_to(recipe)) for c in configs)} "
              f"({recipe}); torch {torch.__version__}, {os.cpu_count()} CPU(s), load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
        start = process_start()
        results = []
        for config in configs:
            name = step_name(config)
            print(f"stage {config.name[0]} {name}: {args.warmup} + {args.steps} steps ...", flush=True)
            results.append(bench_stage(config, variables, exp / name, args.steps, args.warmup, args.overrides))
        figures = report(results, args.processes, start, args.budget_minutes)
    for key, value in figures.items():
        print(f"{key} {value:.4f}")


def valid_sets(configs: Sequence[Path], variables: Dict[str, str]) -> set:
    """Names of the rendered sets (data.valid / data.train of type scp) the configs read from ${data}."""
    import yaml

    from tsepn.config import substitute

    names = set()
    data = Path(variables["data"])
    for config in configs:
        raw = yaml.safe_load(config.read_text())
        for part in ("train", "valid"):
            section = (raw.get("data") or {}).get(part) or {}
            if section.get("type") == "scp":
                set_dir = Path(substitute(section["args"]["set_dir"], variables, f"{config}: data.{part}.args.set_dir"))
                if set_dir.parent == data:
                    names.add(set_dir.name)
    return names


if __name__ == "__main__":
    main()
