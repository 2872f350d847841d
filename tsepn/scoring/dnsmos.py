"""DNSMOS P.835 (Reddy et al. 2022): non-intrusive SIG, BAK and OVRL scores.

The default model is the `sig_bak_ovr.onnx` that the `speechmos` wheel ships
(the package the paper's authors scored with), so `--metrics dnsmos` needs no
file brought by hand; `--dnsmos-model FILE` points at another ONNX model with
the same input (9.01 s of 16-kHz audio) and output ([1, 3] raw SIG, BAK, OVRL).

Windowing follows speechmos.dnsmos / Microsoft's dnsmos_local.py exactly:
audio shorter than 9.01 s is repeated (whole copies appended) until it is at
least that long; windows of 9.01 s start every second, floor(len/sr) - 9.01
+ 1 of them (rounded down); each window's raw scores go through the
non-personalised polynomials below and the mapped scores are averaged.
speechmos also runs a P.808 model per window; tsepn does not (no column uses
it), which halves the work. Multichannel audio: the mean over channels.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from tsepn.scoring.metrics import MetricError, _as_channels, _to_16k

# numpy.poly1d coefficients, highest power first (speechmos / DNS-Challenge, non-personalised)
POLY = {
    "sig": (-0.08397278, 1.22083953, 0.0052439),
    "bak": (-0.13166888, 1.60915514, -0.39604546),
    "ovrl": (-0.06766283, 1.11546468, 0.04602535),
}
SAMPLE_RATE = 16000
WINDOW_SECONDS = 9.01


def speechmos_model_path() -> Optional[Path]:
    """The DNSMOS P.835 model inside the installed `speechmos` wheel, or None."""
    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "dnsmos_models" / "sig_bak_ovr.onnx"
    return path if path.is_file() else None


class DnsMos:
    """One ONNX session, loaded once; call it on `[T]` or `[C, T]` audio.

    Returns {"ovrl", "sig", "bak"}. `session` lets tests inject a stand-in for
    onnxruntime.InferenceSession. `threads` bounds onnxruntime's intra-op
    threads (1 per scoring worker, so `--nj` workers do not oversubscribe).
    """

    def __init__(self, model_path: Optional[str] = None, session=None, threads: int = 1):
        if session is None:
            import onnxruntime

            path = Path(model_path) if model_path else speechmos_model_path()
            if path is None:
                raise MetricError("no DNSMOS model: install `speechmos` (tools/requirements.txt) or give --dnsmos-model FILE")
            if not path.is_file():
                raise MetricError(f"{path}: DNSMOS ONNX model not found")
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            self.model_path = str(path)
        else:
            self.model_path = model_path or "<injected session>"
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def __call__(self, audio: np.ndarray, sample_rate: int) -> Dict[str, float]:
        audio = _to_16k(_as_channels(audio), sample_rate)
        per_channel = [self._mono(ch) for ch in audio]
        return {k: float(np.mean([p[k] for p in per_channel])) for k in POLY}

    def _mono(self, audio: np.ndarray) -> Dict[str, float]:
        sr = SAMPLE_RATE
        window = int(WINDOW_SECONDS * sr)
        if len(audio) == 0:
            raise MetricError("DNSMOS of an empty signal is undefined")
        while len(audio) < window:
            audio = np.append(audio, audio)
        n_windows = int(np.floor(len(audio) / sr) - WINDOW_SECONDS) + 1
        scores = {k: [] for k in POLY}
        for i in range(n_windows):
            segment = audio[int(i * sr) : int((i + WINDOW_SECONDS) * sr)]
            if len(segment) < window:
                continue
            feed = {self.input_name: segment.astype(np.float32)[None]}
            raw = np.asarray(self.session.run(None, feed)[0], dtype=np.float64).reshape(-1)[:3]
            for name, value in zip(("sig", "bak", "ovrl"), raw):
                scores[name].append(float(np.polyval(POLY[name], value)))
        return {k: float(np.mean(v)) for k, v in scores.items()}


def load_dnsmos(model_path: Optional[str] = None) -> Tuple[Optional[DnsMos], str]:
    """(scorer, "") when DNSMOS can run here, else (None, the reason why not).

    Without `model_path` the model shipped by `speechmos` is used."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None, "onnxruntime is not installed (pip install -r tools/requirements.txt)"
    if model_path and not Path(model_path).is_file():
        return None, f"{model_path}: DNSMOS model file not found"
    if not model_path and speechmos_model_path() is None:
        return None, "speechmos is not installed (pip install -r tools/requirements.txt) and no --dnsmos-model given"
    try:
        return DnsMos(model_path), ""
    except Exception as err:  # a corrupt model file, say
        return None, f"{type(err).__name__}: {err}"
