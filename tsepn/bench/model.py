"""Speed of the proposed model in its published monaural configuration (`tsepn-bench model`).

Prints, one per line (the last four lines), the measured figure and its FLOP floor:
    encode_s N floor F          encode(pos 3 s, neg 3 s), batch 1, inference mode
    rtf_full N floor F          one forward call on a 6 s mixture / 6 s (inference mode)
    stream_chunk_ms N floor F   mean time per 8 ms (128-sample) chunk over a stream, state carried
    train_step_s N floor F      one stage-2 step: encode (encoder + head frozen) + 3 s batch-2 mixture
                                in 1 s chunks carrying state + negative-SNR loss + backward + Adam step
Each figure is the median over --repeats runs after one warm-up run. Inference figures
use --threads threads (default 1), the training step --train-threads (default 2).
Weights are random (speed does not depend on them) unless --checkpoint is given.

The floor is the time the call's LSTM, matrix and convolution FLOPs (tsepn.bench.flops)
would take at the machine's fp32 matmul rate, measured here on one thread (best of a
few short runs) and multiplied by the figure's thread count. Element-wise work is not
counted, so no implementation of the same computation can beat it.

The process keeps freed memory (tsepn.allocator.retain_freed_memory, as the training,
decoding and extraction entry points do), so large calls do not page-fault their
activations in again on every call.

OpenMP threads that spin while waiting make a 2-thread step many times slower as soon as
other processes share the cores (measured here: 237 s instead of 15 s), so this module
sets OMP_WAIT_POLICY=PASSIVE unless the environment already sets it; that takes effect
only if torch is imported after this module.
"""
from __future__ import annotations

import os
import sys

_TORCH_ALREADY_LOADED = "torch" in sys.modules
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Callable, List, Optional  # noqa: E402

import torch  # noqa: E402

from tsepn.allocator import retain_freed_memory  # noqa: E402
from tsepn.bench.flops import count_flops, matmul_rate  # noqa: E402
from tsepn.models import build_model  # noqa: E402
from tsepn.models.checkpoint import load_model  # noqa: E402

log = logging.getLogger(__name__)
RATE = 16000
WHAT = {
    "encode_s": "encode(pos 3 s, neg 3 s): encoder + head + fusion keys/values, batch 1, inference mode",
    "rtf_full": "one forward call on a 6 s mixture from a fresh state, seconds per second of audio",
    "stream_chunk_ms": "milliseconds per 8 ms (128-sample) chunk, state carried, cond precomputed",
    "train_step_s": "stage 2: encode (encoder+head frozen) + batch 2 x 3 s mixture in 1 s chunks carrying the "
                    "state + 10 x negative SNR + backward + Adam(amsgrad) step of the extractor and fusions",
}


CPU_TIMES: dict = {}  # figure name -> median process CPU time (a load-independent hint for 1-thread figures)
FLOPS: dict = {}  # figure name -> FLOPs of one call of that figure (same unit as the figure: per chunk, per second)


def median_time(run: Callable[[], None], repeats: int, name: str = "") -> float:
    """Median wall-clock seconds of `run` over `repeats` runs after a warm-up run."""
    run()  # warm-up: allocator, oneDNN kernels
    walls: List[float] = []
    cpus: List[float] = []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    if name:
        CPU_TIMES[name] = statistics.median(cpus)
    return statistics.median(walls)


def negative_snr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    noise = (ref - est).pow(2).sum(-1)
    return -(10 * torch.log10(ref.pow(2).sum(-1) / (noise + 1e-8) + 1e-8)).mean()


def make_model(checkpoint: Optional[str]):
    if checkpoint:
        return load_model(checkpoint, arch=None if checkpoint.endswith(".tsepn.pt") else "proposed-monaural")
    torch.manual_seed(0)
    return build_model("proposed-monaural")


def bench_inference(model, repeats: int, stream_seconds: float) -> dict:
    model.eval()
    gen = torch.Generator().manual_seed(1)
    pos, neg = torch.randn(1, 1, 3 * RATE, generator=gen), torch.randn(1, 1, 3 * RATE, generator=gen)
    mix = torch.randn(1, 1, 6 * RATE, generator=gen)
    chunk = 128
    stream = mix[..., : int(stream_seconds * RATE) // chunk * chunk]
    with torch.inference_mode():
        encode_s = median_time(lambda: model.encode(pos, neg), repeats, "encode")
        cond = model.encode(pos, neg)
        full_s = median_time(lambda: model(mix, cond, None), repeats, "full 6 s call")

        def run_stream():
            state = None
            for piece in stream.split(chunk, dim=-1):
                _, state = model(piece, cond, state)

        chunks = stream.shape[-1] // chunk
        stream_s = median_time(run_stream, repeats, f"stream of {chunks} chunks")
        FLOPS["encode_s"] = count_flops(lambda: model.encode(pos, neg)).flops
        FLOPS["rtf_full"] = count_flops(lambda: model(mix, cond, None)).flops / 6.0
        FLOPS["stream_chunk_ms"] = count_flops(run_stream).flops / chunks
    return {"encode_s": encode_s, "rtf_full": full_s / 6.0, "stream_chunk_ms": 1000 * stream_s / chunks}


def bench_train_step(model, repeats: int) -> float:
    for part in (model.encoder, model.encoder_head):
        part.requires_grad_(False)
    model.train()
    model.encoder.eval()
    model.encoder_head.eval()
    main = model.param_groups()["main"]
    optimizer = torch.optim.Adam(main, lr=2e-3, weight_decay=1e-4, amsgrad=True)
    gen = torch.Generator().manual_seed(2)
    batch = {k: torch.randn(2, 1, 3 * RATE, generator=gen) for k in ("mix", "ref", "pos", "neg")}

    def step():
        cond = model.encode(batch["pos"], batch["neg"])
        state, outs = None, []
        for piece in batch["mix"].split(RATE, dim=-1):
            out, state = model(piece, cond, state)
            outs.append(out)
        loss = 10.0 * negative_snr(torch.cat(outs, dim=-1), batch["ref"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    seconds = median_time(step, repeats, "train step")
    FLOPS["train_step_s"] = count_flops(step).flops
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tsepn-bench model", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the inference figures")
    parser.add_argument("--train-threads", type=int, default=2, help="torch threads for the training step")
    parser.add_argument("--stream-seconds", type=float, default=2.0, help="audio streamed in 8 ms chunks")
    parser.add_argument("--skip-train", action="store_true", help="leave out the training step")
    parser.add_argument("--checkpoint", help="time these weights (tsepn file, or the authors' monaural file)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    retain_freed_memory()
    model = make_model(args.checkpoint)
    load = os.getloadavg()[0]
    policy = os.environ.get("OMP_WAIT_POLICY")
    if _TORCH_ALREADY_LOADED:
        policy = f"{policy} (NOT applied: torch was imported before tsepn.bench_model)"
    print(f"# proposed-monaural, torch {torch.__version__}, {os.cpu_count()} cpu(s), load average {load:.2f} at start; "
          f"median of {args.repeats} runs; OMP_WAIT_POLICY={policy}")
    torch.set_num_threads(1)
    rate = matmul_rate()
    torch.set_num_threads(args.threads)
    figures = bench_inference(model, args.repeats, args.stream_seconds)
    if not args.skip_train:
        torch.set_num_threads(args.train_threads)
        figures["train_step_s"] = bench_train_step(model, args.repeats)
    print(f"# load average {os.getloadavg()[0]:.2f} at end; inference threads {args.threads}, "
          f"training threads {args.train_threads}")
    for name, seconds in CPU_TIMES.items():
        print(f"# process cpu time, {name}: {seconds:.3f} s")
    threads = {name: args.train_threads if name == "train_step_s" else args.threads for name in figures}
    unit = {"stream_chunk_ms": 1000.0}
    floors = {name: unit.get(name, 1.0) * FLOPS[name] / (rate * threads[name]) for name in figures}
    print(f"# floor: FLOPs / ({rate / 1e9:.1f} GFLOP/s measured on one thread x the figure's threads)")
    for name in figures:
        print(f"# {name}: {WHAT[name]}; {FLOPS[name] / 1e9:.4g} GFLOP, measured / floor = "
              f"{figures[name] / floors[name]:.2f}")
    for name, value in figures.items():
        print(f"{name} {value:.4g} floor {floors[name]:.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
