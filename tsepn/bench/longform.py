"""Peak memory and speed of tsepn-extract on long recordings (`tsepn-bench longform`).

Writes noise mixtures of --minutes (default 10 and 60) as 16-bit WAV files, then runs
`python -m tsepn.bin.extract` on each in a fresh process (streaming in --chunk-seconds
chunks, block reads/writes) and reports that process's peak resident memory (ru_maxrss)
and its real-time factor (wall time / audio duration). The model is a tiny streaming
posneg model (random weights): the figures are about the file handling, not the network.
Prints, last, per length M: `rss_<M>min_mb`, `rtf_<M>min`, then `rss_growth_mb` (largest
minus smallest peak).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TINY_16K = dict(n_fft=64, hop=32, n_layers=1, fusion_layers=[0], lstm_hidden=8, emb_dim=8, n_heads=1,
                approx_qk_dim=16, attention_span=8,
                fusion_args=dict(n_heads=1, approx_qk_dim=16, pooling_size=4, pooling_stride=4),
                encoder_layers=1, encoder_lstm_hidden=8, encoder_emb_dim=8, encoder_emb_ks=1,
                head_layers=1, head_heads=1, normalization="enrollment", framing="streaming", sample_rate=16000)


def write_noise(path: Path, seconds: float, rate: int, seed: int, block_seconds: float = 60.0) -> None:
    import soundfile as sf

    rng = np.random.default_rng(seed)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=1, subtype="PCM_16") as f:
        left = int(seconds * rate)
        while left > 0:
            n = min(left, int(block_seconds * rate))
            f.write((rng.standard_normal(n) * 0.1).astype(np.float32))
            left -= n


def run_child(argv, env) -> tuple:
    """(wall seconds, peak RSS in MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"tsepn-extract failed:\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tsepn-bench longform", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", default="10,60", help="comma-separated input lengths in minutes")
    parser.add_argument("--chunk-seconds", type=float, default=1.0)
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", help="keep files here (default: a temporary folder, removed after)")
    args = parser.parse_args(argv)
    minutes = [float(m) for m in args.minutes.split(",")]

    import torch

    from tsepn.models import build_model
    from tsepn.models.checkpoint import save_model

    work = Path(args.workdir or tempfile.mkdtemp(prefix="tsepn-bench-longform-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        torch.manual_seed(0)
        model = build_model("posneg", **TINY_16K)
        rate = model.sample_rate
        save_model(work / "tiny.pt", model)
        target = str(work / "tiny.pt")
        if args.backend == "onnx":
            from tsepn.modeldir import write_model_dir

            write_model_dir(work / "tiny-dir", work / "tiny.pt", chunk_seconds=args.chunk_seconds, check=False)
            target = str(work / "tiny-dir")
        write_noise(work / "pos.wav", 3.0, rate, 1)
        write_noise(work / "neg.wav", 3.0, rate, 2)
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        repo = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = repo + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        figures = {}
        for m in minutes:
            mix = work / f"mix_{m:g}min.wav"
            write_noise(mix, m * 60, rate, 3)
            cmd = [sys.executable, "-m", "tsepn.bin.extract", target, "--mix", str(mix), "--pos",
                   str(work / "pos.wav"), "--neg", str(work / "neg.wav"), "--out", str(work / "out.wav"),
                   "--chunk-seconds", str(args.chunk_seconds), "--backend", args.backend, "--threads",
                   str(args.threads), "--no-progress"]
            wall, rss = run_child(cmd, env)
            mix.unlink()
            (work / "out.wav").unlink()
            figures[f"rss_{m:g}min_mb"] = rss
            figures[f"rtf_{m:g}min"] = wall / (m * 60)
            print(f"# {m:g} min: {wall:.1f} s wall, peak RSS {rss:.1f} MB", flush=True)
        rss_values = [v for k, v in figures.items() if k.startswith("rss_")]
        figures["rss_growth_mb"] = max(rss_values) - min(rss_values)
        print(f"# tiny streaming posneg at {rate} Hz, {args.backend} backend, chunks of {args.chunk_seconds} s, "
              f"{args.threads} thread(s), load average {os.getloadavg()[0]:.2f}")
        for name, value in figures.items():
            print(f"{name} {value:.4g}")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
