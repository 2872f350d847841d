"""Deterministic rendering of a scenario spec (tsepn.data.scenario) into signals.

No randomness here: every choice is in the spec, so the same spec gives the same
samples (and, written with tsepn.audio, the same bytes). For each recording
(mix, pos, neg) every placed source is read from its trimmed utterance stream
(only the needed stretch of each file is decoded, or, for a corpus preloaded in
memory, sliced; speech is mono: a file's first channel), brought to its level
(target_level_db + gain_db, RMS over the placed stretch), faded in/out where it
starts or stops inside the recording, optionally convolved with its BRIR, and
summed; noise is added at the spec's SNR. Binaural specs (key `binaural`): responses are
read through a per-scene cache (tsepn.data.brir.ResponseCache: a scene's responses are
loaded once and kept while the Renderer renders that scene); FFT convolution; placed at the
source's start, so a unit impulse gives the dry signal back; the reference is the target's
reverberant image, or, with `reference: direct`, its image through the direct part of
its response only. One common factor then keeps every
signal of the example under PEAK (so PCM_16 files never clip and mix/ref keep
their ratio).

Activity segments come from the trimmed utterances' speech spans, carried through
the same offsets and placements as the samples, so they agree with the audio.
"""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import soundfile as sf

from tsepn.audio import AudioError, read_audio
from tsepn.data.brir import BrirError
from tsepn.data.pools import NoisePool, SpeechPool, TrimmedUtt, merge_sample_spans
from tsepn.data.scenario import RECORDINGS, SpecError

PEAK = 0.9  # largest absolute sample of any rendered signal
FADE_SECONDS = 0.01  # raised-cosine ramp where a source starts or stops inside a recording
_ARK_SPEC = re.compile(r"^.+\.ark:\d+$")

Segment = Tuple[str, float, float]  # source name, start s, end s
log = logging.getLogger(__name__)


@dataclass
class Rendered:
    """The signals of one example, float32 `[C, T]`, and who is active when in the enrollments."""

    key: str
    mix: np.ndarray
    ref: np.ndarray  # target image in the mixture
    pos: np.ndarray
    neg: np.ndarray
    pos_clean: np.ndarray  # target image in the positive enrollment
    images: Dict[str, Dict[str, np.ndarray]] = field(default_factory=dict)  # recording -> source -> image
    segments: Dict[str, List[Segment]] = field(default_factory=dict)  # "pos"/"neg" -> segments


# --------------------------------------------------------------------------- reading


class AudioSlice:
    """Random access to one audio spec (file or `file.ark:offset`) at a required sample rate."""

    def __init__(self, spec: str, sample_rate: int):
        self.spec = spec
        self._file: Optional[sf.SoundFile] = None
        self._array: Optional[np.ndarray] = None
        if _ARK_SPEC.match(spec):
            self._array, _ = read_audio(spec, sample_rate=sample_rate, strict=True)
            self.frames, self.channels = self._array.shape[1], self._array.shape[0]
            return
        if not Path(spec).is_file():
            raise AudioError(f"{spec}: audio file not found")
        try:
            self._file = sf.SoundFile(spec)
        except (sf.LibsndfileError, RuntimeError, ValueError) as err:
            raise AudioError(f"{spec}: unreadable or corrupt audio ({err})") from None
        if self._file.samplerate != sample_rate:
            found = self._file.samplerate
            self.close()
            raise AudioError(f"{spec}: sample rate {found} Hz, the scenario needs {sample_rate} Hz")
        self.frames, self.channels = self._file.frames, self._file.channels
        if self.frames == 0:
            self.close()
            raise AudioError(f"{spec}: audio has no samples")

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) as `[channels, stop - start]`, zeros past the end of the audio."""
        out = np.zeros((self.channels, stop - start), dtype=np.float32)
        end = min(stop, self.frames)
        if end <= start:
            return out
        if self._array is not None:
            out[:, : end - start] = self._array[:, start:end]
            return out
        try:
            self._file.seek(start)
            data = self._file.read(end - start, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError) as err:
            raise AudioError(f"{self.spec}: unreadable or corrupt audio ({err})") from None
        if not np.all(np.isfinite(data)):
            raise AudioError(f"{self.spec}: audio holds NaN or Inf samples")
        out[:, : data.shape[0]] = data.T
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "AudioSlice":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_trimmed(utt: TrimmedUtt, start: int, stop: int, sample_rate: int) -> np.ndarray:
    """Samples [start, stop) of the trimmed utterance (first channel), decoding one covering stretch."""
    wanted = []  # (output position, original start, count)
    cursor = 0
    for lo, hi in utt.pieces:
        a, b = max(start, cursor), min(stop, cursor + hi - lo)
        if b > a:
            wanted.append((a - start, lo + a - cursor, b - a))
        cursor += hi - lo
    out = np.zeros(stop - start, dtype=np.float32)
    if not wanted:
        return out
    first, last = wanted[0][1], wanted[-1][1] + wanted[-1][2]
    with AudioSlice(utt.audio, sample_rate) as audio:
        block = audio.read(first, last)[0]
    for pos, orig, count in wanted:
        out[pos : pos + count] = block[orig - first : orig - first + count]
    return out


def read_stream(pool: SpeechPool, placement: Dict[str, Any],
                held: Optional[Dict[str, np.ndarray]] = None) -> Tuple[np.ndarray, List[Tuple[int, int]]]:
    """The placed stretch of a source's utterance stream and its speech spans (samples, stretch coords).

    held: the pool's trimmed utterances already decoded (Renderer preloading), else read from disk.
    """
    try:
        utts = [pool.utts[u] for u in placement["utts"]]
    except KeyError as err:
        raise SpecError(f"utterance {err.args[0]!r} is not a usable utterance of {pool.data_dir}") from None
    total = sum(u.length for u in utts)
    length = placement["length"]
    out = np.empty(length, dtype=np.float32)
    spans: List[Tuple[int, int]] = []
    pos, filled = placement["offset"] % total, 0
    while filled < length:
        k, within = _locate(utts, pos)
        utt = utts[k]
        take = min(length - filled, utt.length - within)
        if held is not None:
            out[filled : filled + take] = held[utt.utt][within : within + take]
        else:
            out[filled : filled + take] = read_trimmed(utt, within, within + take, pool.sample_rate)
        for s, e in utt.spans:
            s, e = max(s, within), min(e, within + take)
            if e > s:
                spans.append((s - within + filled, e - within + filled))
        filled += take
        pos = (pos + take) % total
    return out, merge_sample_spans(spans)


def _locate(utts: List[TrimmedUtt], pos: int) -> Tuple[int, int]:
    for k, utt in enumerate(utts):
        if pos < utt.length:
            return k, pos
        pos -= utt.length
    raise AssertionError("position past the end of the stream")


def read_noise(pool: NoisePool, utt: str, offset: int, length: int, channels: int,
               held: Optional[Dict[str, np.ndarray]] = None) -> np.ndarray:
    """`length` samples of a noise file from `offset`, wrapping around; `channels` channels.

    held: the pool's files already decoded (Renderer preloading), else read from disk.
    """
    if utt not in pool.audio:
        raise SpecError(f"noise {utt!r} is not listed in {pool.data_dir / 'wav.scp'}")
    with (_HeldAudio(held[utt]) if held is not None else AudioSlice(pool.audio[utt], pool.sample_rate)) as audio:
        parts, pos, left = [], offset % audio.frames, length
        while left > 0:
            take = min(left, audio.frames - pos)
            parts.append(audio.read(pos, pos + take))
            left -= take
            pos = 0
    noise = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    return _to_channels(noise, channels)


class _HeldAudio:
    """AudioSlice's reading interface over an array in memory."""

    def __init__(self, array: np.ndarray):
        self.array, self.frames = array, array.shape[1]

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.array[:, start:stop]

    def __enter__(self) -> "_HeldAudio":
        return self

    def __exit__(self, *exc) -> None:
        pass


def _to_channels(x: np.ndarray, channels: int) -> np.ndarray:
    if x.shape[0] >= channels:
        return x[:channels]
    return np.concatenate([x] * -(-channels // x.shape[0]), axis=0)[:channels]


# --------------------------------------------------------------------------- rendering


class Renderer:
    """Renders specs; loads (and keeps) the speech/noise pools the specs name.

    preload_mb: a pool whose decoded audio fits in what is left of this budget is decoded
    once, when the Renderer first meets it, and rendered from memory (small corpora, such
    as the mini corpus: no decoding per example); larger pools are read slice by slice.
    Memory is bounded by the budget, never by the number of examples rendered.
    """

    def __init__(self, speech_pools: Tuple[SpeechPool, ...] = (), noise_pools: Tuple[NoisePool, ...] = (),
                 preload_mb: float = 0.0):
        self._budget = preload_mb * 2**20
        self._speech: Dict[tuple, SpeechPool] = {}
        self._noise: Dict[tuple, NoisePool] = {}
        self._held: Dict[tuple, Optional[Dict[str, np.ndarray]]] = {}  # pool key -> decoded audio, or None
        self._responses = None  # tsepn.data.brir.ResponseCache, made when a spec first needs a BRIR
        for pool in speech_pools:
            self._add_speech((str(pool.data_dir), pool.sample_rate, *pool.trim), pool)
        for pool in noise_pools:
            self._add_noise_pool((str(pool.data_dir), pool.sample_rate), pool)

    @property
    def preloaded_mb(self) -> float:
        return sum(a.nbytes for held in self._held.values() if held for a in held.values()) / 2**20

    def speech_pool(self, spec) -> SpeechPool:
        return self._speech[self._speech_key(spec)]

    def noise_pool(self, spec) -> NoisePool:
        return self._noise[self._noise_key(spec)]

    def _speech_key(self, spec) -> tuple:
        trim = spec["trim"]
        key = (spec["speech_dir"], spec["sample_rate"], trim["max_pause_s"], trim["edge_s"])
        if key not in self._speech:
            self._add_speech(key, SpeechPool(*key))
        return key

    def _noise_key(self, spec) -> tuple:
        key = (spec["noise_dir"], spec["sample_rate"])
        if key not in self._noise:
            self._add_noise_pool(key, NoisePool(*key))
        return key

    def _add_speech(self, key: tuple, pool: SpeechPool) -> None:
        self._speech[key] = pool
        size = 4 * sum(u.length for u in pool.utts.values())
        self._held[("speech",) + key] = self._preload(
            pool.data_dir, size, lambda: {u.utt: read_trimmed(u, 0, u.length, pool.sample_rate) for u in pool.utts.values()})

    def _add_noise_pool(self, key: tuple, pool: NoisePool) -> None:
        self._noise[key] = pool
        size = 4 * 2 * sum(pool.samples.values())  # at most 2 channels (WHAM!)

        def decode():
            held = {}
            for utt, spec in pool.audio.items():
                with AudioSlice(spec, pool.sample_rate) as audio:
                    held[utt] = audio.read(0, audio.frames)
            return held

        self._held[("noise",) + key] = self._preload(pool.data_dir, size, decode)

    def _preload(self, where, size: int, decode) -> Optional[Dict[str, np.ndarray]]:
        if size > self._budget:
            return None
        self._budget -= size
        held = decode()
        log.info("%s: %.0f MB decoded and held in memory", where, sum(a.nbytes for a in held.values()) / 2**20)
        return held

    def render(self, spec: Dict[str, Any]) -> Rendered:
        """Render one spec; an error names the example."""
        try:
            return self._render(spec)
        except (SpecError, AudioError, BrirError) as err:
            raise type(err)(f"example {spec.get('id')!r}: {err}") from None

    def _render(self, spec: Dict[str, Any]) -> Rendered:
        speech_key = self._speech_key(spec)
        speech, held = self._speech[speech_key], self._held[("speech",) + speech_key]
        images: Dict[str, Dict[str, np.ndarray]] = {}
        segments: Dict[str, List[Segment]] = {}
        for rec in RECORDINGS:
            images[rec], segments[rec] = self._place_sources(spec, speech, held, rec)
        target = spec["sources"][0]["name"]
        ref = images["mix"].get(target)
        direct = None
        if ref is None:  # target-absent example: silent reference; the noise keeps the level it would have
            ref = np.zeros((spec["channels"], spec["lengths"]["mix"]), dtype=np.float32)
            noise_power = 10.0 ** (spec["target_level_db"] / 10.0) / 10.0 ** (spec["snr_db"] / 10.0)
        else:
            # SNR of the target image in the mixture to the noise (whichever reference is asked for)
            noise_power = _power(ref) / 10.0 ** (spec["snr_db"] / 10.0)
            direct = self._direct_reference(spec)
            if direct is not None:  # binaural, reference "direct": the target through its direct sound only
                ref = direct
        signals = {rec: self._add_noise(spec, rec, images[rec], noise_power) for rec in RECORDINGS}
        pos_clean = images["pos"][target]
        direct_pos = self._direct_reference(spec, "pos")  # binaural, reference "direct" (else None)
        if direct_pos is not None:
            pos_clean = direct_pos
        signals["ref"], signals["pos_clean"] = ref, pos_clean
        scale = _peak_scale(signals.values())
        if scale != 1.0:
            for name in signals:
                signals[name] = signals[name] * np.float32(scale)
            for rec in images:
                images[rec] = {k: v * np.float32(scale) for k, v in images[rec].items()}
        return Rendered(key=spec["id"], images=images, segments={k: segments[k] for k in ("pos", "neg")}, **signals)

    def _place_sources(self, spec, speech: SpeechPool, held, rec: str) -> Tuple[Dict[str, np.ndarray], List[Segment]]:
        total, sr, channels = spec["lengths"][rec], spec["sample_rate"], spec["channels"]
        images, segments = {}, []
        for source in spec["sources"]:
            placement = source[rec]
            if placement is None:
                continue
            signal, spans = read_stream(speech, placement, held)
            level_db = spec["target_level_db"] + source["gain_db"]
            signal *= np.float32(10.0 ** (level_db / 20.0) / max(np.sqrt(_power(signal)), 1e-8))
            _fade_edges(signal, placement, total, sr)
            images[source["name"]] = self._image(signal, placement, total, channels, sr)
            start = placement["start"]
            segments += [(source["name"], round((start + s) / sr, 3), round((start + e) / sr, 3)) for s, e in spans]
        return images, segments

    def render_enroll_clean(self, spec: Dict[str, Any]) -> np.ndarray:
        """Another clean recording of the target, `[C, lengths.pos]` (the `enroll_clean` item field).

        Deterministic from the spec: the target speaker's utterances that the mixture's
        placement does not use (and, when at least one is left, that the positive
        enrollment does not use either), in an order seeded by crc32 of the example id,
        read as a stream from an offset inside the first; brought to target_level_db
        (RMS) and placed in the positive enrollment's room (the target's pos BRIR).
        Limited to PEAK on its own (it is no part of the scene's common scale).
        """
        import zlib

        speech_key = self._speech_key(spec)
        pool, held = self._speech[speech_key], self._held[("speech",) + speech_key]
        target = spec["sources"][0]
        used_mix = set(target["mix"]["utts"]) if target.get("mix") else set()
        used_pos = set(target["pos"]["utts"]) if target.get("pos") else set()
        utts = sorted(pool.by_speaker.get(target["speaker"], []))
        fresh = [u for u in utts if u not in used_mix and u not in used_pos]
        candidates = fresh or [u for u in utts if u not in used_mix] or utts
        if not candidates:
            raise SpecError(f"no utterance of target speaker {target['speaker']!r} in {pool.data_dir}")
        rng = np.random.default_rng(zlib.crc32(str(spec["id"]).encode()))
        order = [candidates[i] for i in rng.permutation(len(candidates))]
        total, sr, channels = spec["lengths"]["pos"], spec["sample_rate"], spec["channels"]
        brir = target["pos"]["brir"] if target.get("pos") else None
        placement = {"utts": order, "offset": int(rng.integers(0, pool.utts[order[0]].length)), "start": 0,
                     "length": int(total), "brir": brir}
        signal, _ = read_stream(pool, placement, held)
        signal *= np.float32(10.0 ** (spec["target_level_db"] / 20.0) / max(np.sqrt(_power(signal)), 1e-8))
        image = self._image(signal, placement, total, channels, sr)
        return image * np.float32(_peak_scale([image]))

    def render_candidates(self, spec: Dict[str, Any]) -> np.ndarray:
        """The spec's candidate references, `[K, C, L]` (the `candidates` item field; K = 0 without them).

        Each: its stream of the target's utterances at target_level_db (RMS), in the positive
        enrollment's room (the target's pos BRIR), plus its own noise at its `snr_db`; limited
        to PEAK on its own. Candidates of one spec share the length L.
        """
        cands = spec.get("candidates") or []
        speech_key, noise_key = self._speech_key(spec), self._noise_key(spec)
        pool, held = self._speech[speech_key], self._held[("speech",) + speech_key]
        channels, sr = spec["channels"], spec["sample_rate"]
        target = spec["sources"][0]
        brir = target["pos"]["brir"] if target.get("pos") else None
        out = []
        for cand in cands:
            placement = {"utts": cand["utts"], "offset": cand["offset"], "start": 0, "length": cand["length"],
                         "brir": brir}
            signal, _ = read_stream(pool, placement, held)
            signal *= np.float32(10.0 ** (spec["target_level_db"] / 20.0) / max(np.sqrt(_power(signal)), 1e-8))
            image = self._image(signal, placement, cand["length"], channels, sr)
            noise = read_noise(self._noise[noise_key], cand["noise"]["utt"], cand["noise"]["offset"], cand["length"],
                               channels, self._held[("noise",) + noise_key])
            power = _power(noise)
            if power > 1e-12:
                image += noise * np.float32(np.sqrt(_power(image) / 10.0 ** (cand["snr_db"] / 10.0) / power))
            out.append(image * np.float32(_peak_scale([image])))
        if not out:
            return np.zeros((0, channels, 0), dtype=np.float32)
        return np.stack(out)

    def _image(self, signal: np.ndarray, placement, total: int, channels: int, sr: int,
               direct_ms: Optional[float] = None) -> np.ndarray:
        image = np.zeros((channels, total), dtype=np.float32)
        start = placement["start"]
        if placement["brir"] is None:
            image[:, start : start + signal.shape[0]] = signal
            return image
        from tsepn.data.brir import ResponseCache, fft_convolve

        if self._responses is None:
            self._responses = ResponseCache()
        if direct_ms is None:
            brir = self._responses.get(placement["brir"], sr)
        else:
            brir = self._responses.direct(placement["brir"], sr, direct_ms)
        if brir.shape[0] != channels:
            raise SpecError(f"BRIR {placement['brir']} has {brir.shape[0]} channel(s), the spec needs {channels}")
        wet = fft_convolve(signal, brir, total - start)
        image[:, start:] = wet
        return image

    def _direct_reference(self, spec, rec: str = "mix") -> Optional[np.ndarray]:
        """The target's image in `rec` through the direct part of its response ("direct" reference), else None."""
        binaural = spec.get("binaural")
        if not binaural or binaural["reference"] != "direct":
            return None
        target = spec["sources"][0]
        placement = target[rec]
        if placement["brir"] is None:  # a dry enrollment (reverb_enrollments false) stays dry
            return None
        sr, total = spec["sample_rate"], spec["lengths"][rec]
        speech_key = self._speech_key(spec)
        signal, _ = read_stream(self._speech[speech_key], placement, self._held[("speech",) + speech_key])
        signal *= np.float32(10.0 ** (spec["target_level_db"] / 20.0) / max(np.sqrt(_power(signal)), 1e-8))
        _fade_edges(signal, placement, total, sr)
        return self._image(signal, placement, total, spec["channels"], sr, binaural["direct_path_ms"])

    def _add_noise(self, spec, rec: str, images: Dict[str, np.ndarray], noise_power: float) -> np.ndarray:
        total, channels = spec["lengths"][rec], spec["channels"]
        out = np.zeros((channels, total), dtype=np.float32)
        for image in images.values():
            out += image
        pick = spec["noise"][rec]
        key = self._noise_key(spec)
        noise = read_noise(self._noise[key], pick["utt"], pick["offset"], total, channels, self._held[("noise",) + key])
        power = _power(noise)
        if power > 1e-12:
            out += noise * np.float32(np.sqrt(noise_power / power))
        return out


def _fade_edges(signal: np.ndarray, placement, total: int, sr: int) -> None:
    """Ramp in/out where the source starts or stops inside the recording (avoids clicks)."""
    n = min(int(FADE_SECONDS * sr), signal.shape[0] // 2)
    if n == 0:
        return
    ramp = _ramp(n)
    if placement["start"] > 0:
        signal[:n] *= ramp
    if placement["start"] + placement["length"] < total:
        signal[-n:] *= ramp[::-1]


@functools.lru_cache(maxsize=8)
def _ramp(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


def _power(x: np.ndarray) -> float:
    flat = x.reshape(-1)
    return float(np.dot(flat, flat)) / max(flat.shape[0], 1)


def _peak_scale(signals) -> float:
    peak = max(float(np.max(np.abs(s))) for s in signals)
    return PEAK / peak if peak > PEAK else 1.0
