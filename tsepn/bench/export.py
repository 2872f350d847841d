"""Per-chunk latency of the streaming step, PyTorch vs ONNX Runtime (`tsepn-bench export`).

The published monaural configuration (random weights unless --checkpoint / --arch) is
exported to ONNX with 8-ms (128-sample) chunks; then the same stream of chunks runs
through the PyTorch model (inference mode, state carried, conditioning precomputed) and
through the exported step graph with onnxruntime, both on --threads threads (default 1).
The passes alternate (torch, onnx, torch, onnx, ...), so both see the same machine load;
each figure is the median over --repeats passes of the mean time per chunk.
`--shifting-caches` also times a second export whose step shifts its attention caches
inside the graph (the format before ring caches), `--torchscript` the same step traced to
TorchScript (tsepn.runtime.torchscript), interleaved with the others.
Prints, last (wall-clock figures; a comment line above them gives the process CPU time per
chunk of each, the figure to trust when the cores are shared):
    torch_chunk_ms N    PyTorch, milliseconds per 8-ms chunk
    onnx_chunk_ms N     onnxruntime, milliseconds per 8-ms chunk (numpy std + graph call + state update)
    speedup N           torch_chunk_ms / onnx_chunk_ms
    cpu_speedup N       the same ratio in process CPU time
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


def interleaved_per_chunk(runs: dict, chunks: int, repeats: int) -> dict:
    """name -> (wall ms, process CPU ms) per chunk: medians over `repeats` rounds that run each once.

    One warm-up pass each first. With one thread the CPU time is the figure to trust when
    other processes share the cores (wall time then includes waiting for a core).
    """
    for run in runs.values():
        run()
    walls = {name: [] for name in runs}
    cpus = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            walls[name].append((time.perf_counter() - start) / chunks)
            cpus[name].append((time.process_time() - start_cpu) / chunks)
    return {name: (1000 * statistics.median(walls[name]), 1000 * statistics.median(cpus[name])) for name in runs}


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
    parser.add_argument("--shifting-caches", action="store_true",
                        help="also time an export whose step shifts its attention caches in the graph")
    parser.add_argument("--torchscript", action="store_true", help="also time the TorchScript export of the step")
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
    folders = {"onnx": folder}
    if args.shifting_caches:
        folders["onnx_shifting"] = os.path.join(folder, "shifting-caches")
    if args.torchscript:
        folders["torchscript"] = os.path.join(folder, "torchscript")
    for name, path in folders.items():
        if not os.path.isfile(os.path.join(path, "manifest.json")):
            start, start_cpu = time.perf_counter(), time.process_time()
            export_model(model, path, chunk_seconds=args.chunk_seconds, check=False,
                         ring_caches=name != "onnx_shifting", format="torchscript" if name == "torchscript" else "onnx")
            print(f"# exported to {path} in {time.perf_counter() - start:.1f} s "
                  f"({time.process_time() - start_cpu:.1f} s CPU)")
    def open_runtime(name: str, path: str):
        if name == "torchscript":
            from tsepn.runtime.torchscript import TorchScriptExtractor

            return TorchScriptExtractor(path, threads=args.threads)
        return OnnxExtractor(path, threads=args.threads)

    runtimes = {name: open_runtime(name, path) for name, path in folders.items()}
    for name, runtime in runtimes.items():
        if runtime.chunk_samples != chunk:
            raise SystemExit(f"{folders[name]}: exported with {runtime.chunk_samples}-sample chunks, not {chunk}")

    gen = torch.Generator().manual_seed(1)
    pos, neg = torch.randn(1, 1, 3 * rate, generator=gen), torch.randn(1, 1, 3 * rate, generator=gen)
    count = max(1, int(args.stream_seconds * rate) // chunk)
    mix = torch.randn(1, 1, count * chunk, generator=gen)
    pieces = list(mix.split(chunk, dim=-1))
    np_pieces = [p[0].numpy() for p in pieces]
    with torch.inference_mode():
        cond = model.encode(pos, neg)
    outputs = {}

    def run_torch():
        state, outs = None, []
        with torch.inference_mode():
            for piece in pieces:
                out, state = model(piece, cond, state)
                outs.append(out)
        outputs["torch"] = torch.cat(outs, dim=-1)[0].numpy()

    def onnx_runner(name: str):
        runtime = runtimes[name]
        cond_values = runtime.encode(pos[0].numpy(), neg[0].numpy())

        def run():
            stream = runtime.stream(cond=cond_values)
            outputs[name] = np.concatenate([stream.push(p) for p in np_pieces], axis=-1)

        return run

    load_start = os.getloadavg()[0]
    runs = {"torch": run_torch, **{name: onnx_runner(name) for name in runtimes}}
    times = interleaved_per_chunk(runs, count, args.repeats)
    (torch_ms, torch_cpu), (onnx_ms, onnx_cpu) = times["torch"], times["onnx"]
    peak = float(np.abs(outputs["torch"]).max())
    print(f"# {model.tsepn_name if hasattr(model, 'tsepn_name') else type(model).__name__}: {count} chunks of "
          f"{chunk} samples ({1000 * chunk / rate:g} ms), {args.threads} thread(s), median of {args.repeats} "
          f"interleaved passes; torch {torch.__version__}, load average {load_start:.2f} -> {os.getloadavg()[0]:.2f}")
    print("# process CPU time per chunk: " + ", ".join(f"{name} {cpu:.4g} ms" for name, (_, cpu) in times.items())
          + f" (torch / onnx {torch_cpu / onnx_cpu:.3g})")
    if "onnx_shifting" in times:
        shift_ms, shift_cpu = times["onnx_shifting"]
        print(f"onnx_shifting_chunk_ms {shift_ms:.4g}")
        print(f"# ring caches vs shifting caches, CPU: {shift_cpu / onnx_cpu:.3g}x")
    if "torchscript" in times:
        print(f"torchscript_chunk_ms {times['torchscript'][0]:.4g}")
    print(f"torch_chunk_ms {torch_ms:.4g}")
    print(f"onnx_chunk_ms {onnx_ms:.4g}")
    print(f"speedup {torch_ms / onnx_ms:.3g}")
    print(f"cpu_speedup {torch_cpu / onnx_cpu:.3g}")
    for name in runtimes:
        suffix = "" if name == "onnx" else "_" + name.replace("onnx_", "")
        diff = float(np.abs(outputs[name] - outputs["torch"]).max())
        print(f"max_abs_diff{suffix} {diff:.3g}" + (f"  # output peak {peak:.3g}" if not suffix else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
