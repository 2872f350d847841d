"""Per-chunk latency of the streaming step, PyTorch vs ONNX Runtime (`tsepn-bench export`).

The published monaural configuration (random weights unless --checkpoint / --arch) is
exported to ONNX with 8-ms (128-sample) chunks; then the same stream of chunks runs
through the PyTorch model (inference mode, state carried, conditioning precomputed) and
through the exported step graph with onnxruntime, both on --threads threads (default 1).
Each figure is the median over --repeats passes of the mean time per chunk.
Prints, last:
    torch_chunk_ms N    PyTorch, milliseconds per 8-ms chunk
    onnx_chunk_ms N     onnxruntime, milliseconds per 8-ms chunk (numpy std + graph call + state copy)
    speedup N           torch_chunk_ms / onnx_chunk_ms
(a comment line above them gives the process CPU time per chunk of both, a hint when the
cores are shared)
    max_abs_diff N      largest |onnx - torch| over the timed stream
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402


def median_per_chunk(run, chunks: int, repeats: int):
    """(wall ms, process CPU ms) per chunk, medians over `repeats` passes after a warm-up pass.

    With one thread the CPU time is a load-independent hint when other processes share the cores.
    """
    run()  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        walls.append((time.perf_counter() - start) / chunks)
        cpus.append((time.process_time() - start_cpu) / chunks)
    return 1000 * statistics.median(walls), 1000 * statistics.median(cpus)


def main(argv=None) -> int:
    from tsepn.export import export_model
    from tsepn.models import build_model
    from tsepn.models.checkpoint import load_model
    from tsepn.runtime import OnnxExtractor

    parser = argparse.ArgumentParser(prog="tsepn-bench export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="time these weights (tsepn file, or an authors' file with --arch)")
    parser.add_argument("--arch", default=None, help="architecture of an authors' file")
    parser.add_argument("--chunk-seconds", type=float, default=0.008)
    parser.add_argument("--stream-seconds", type=float, default=1.0, help="audio streamed per timed pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--export-dir", help="reuse / keep the export here (default: a temporary folder)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    if args.checkpoint:
        model = load_model(args.checkpoint, arch=args.arch)
    else:
        torch.manual_seed(0)
        model = build_model("proposed-monaural")
    model.eval()
    rate = model.sample_rate
    chunk = int(round(args.chunk_seconds * rate))
    folder = args.export_dir or tempfile.mkdtemp(prefix="tsepn-bench-export-")
    if not os.path.isfile(os.path.join(folder, "manifest.json")):
        start = time.perf_counter()
        export_model(model, folder, chunk_seconds=args.chunk_seconds, check=False)
        print(f"# exported to {folder} in {time.perf_counter() - start:.1f} s")
    runtime = OnnxExtractor(folder, threads=args.threads)
    if runtime.chunk_samples != chunk:
        raise SystemExit(f"{folder}: exported with {runtime.chunk_samples}-sample chunks, not {chunk}")

    gen = torch.Generator().manual_seed(1)
    pos, neg = torch.randn(1, 1, 3 * rate, generator=gen), torch.randn(1, 1, 3 * rate, generator=gen)
    count = max(1, int(args.stream_seconds * rate) // chunk)
    mix = torch.randn(1, 1, count * chunk, generator=gen)
    pieces = list(mix.split(chunk, dim=-1))
    np_pieces = [p[0].numpy() for p in pieces]
    with torch.inference_mode():
        cond = model.encode(pos, neg)
    onnx_cond = runtime.encode(pos[0].numpy(), neg[0].numpy())
    outputs = {}

    def run_torch():
        state, outs = None, []
        with torch.inference_mode():
            for piece in pieces:
                out, state = model(piece, cond, state)
                outs.append(out)
        outputs["torch"] = torch.cat(outs, dim=-1)[0].numpy()

    def run_onnx():
        stream = runtime.stream(cond=onnx_cond)
        outputs["onnx"] = np.concatenate([stream.push(p) for p in np_pieces], axis=-1)

    load_start = os.getloadavg()[0]
    torch_ms, torch_cpu = median_per_chunk(run_torch, count, args.repeats)
    onnx_ms, onnx_cpu = median_per_chunk(run_onnx, count, args.repeats)
    diff = float(np.abs(outputs["onnx"] - outputs["torch"]).max())
    print(f"# {model.tsepn_name if hasattr(model, 'tsepn_name') else type(model).__name__}: {count} chunks of "
          f"{chunk} samples ({1000 * chunk / rate:g} ms), {args.threads} thread(s), median of {args.repeats}; "
          f"torch {torch.__version__}, load average {load_start:.2f} -> {os.getloadavg()[0]:.2f}")
    print(f"# process CPU time per chunk: torch {torch_cpu:.4g} ms, onnxruntime {onnx_cpu:.4g} ms "
          f"(ratio {torch_cpu / onnx_cpu:.3g})")
    print(f"torch_chunk_ms {torch_ms:.4g}")
    print(f"onnx_chunk_ms {onnx_ms:.4g}")
    print(f"speedup {torch_ms / onnx_ms:.3g}")
    print(f"max_abs_diff {diff:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
