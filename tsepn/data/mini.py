"""A synthetic mini corpus in the on-disk layouts of LibriSpeech and WHAM! noise.

`make demo` and the tests cannot download LibriSpeech, so this module writes, in
seconds, a small corpus that the *real* preparation code reads unchanged:

    <out>/LibriSpeech/SPEAKERS.TXT
    <out>/LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>.trans.txt
    <out>/LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>-<NNNN>.flac   (16 kHz mono)
    <out>/wham_noise/{tr,cv,tt}/<name>.wav                                 (16 kHz, 2 channels)
    <out>/brirs/{CIPIC,RRBRIR,ASH-Listening-Set-8.0,CATT_RIRs}/...        (only with `brirs:`, the
                                                binaural recipe; tsepn.data.mini_brir)

The "speech" is a source-filter synthesis whose parameters differ per speaker,
so that a model can learn speaker conditioning from it:
- a Rosenberg glottal pulse train at a speaker-specific f0 with phrase
  declination, pitch accents and jitter, plus breath noise; intonation is kept
  narrow (accents of 0.5-2 semitones), so that every voice keeps to its own
  pitch band: with the wide intonation of real read speech, a speaker model
  small enough to train on 2 CPU cores in minutes could not tell same-sex
  voices apart (teacher SI-SNRi 3.7 dB with correct vs 1.1 dB with wrong
  enrollments; 4.5 vs -0.7 dB with narrow intonation);
- vowels shaped by formant resonators whose frequencies are scaled by a
  speaker-specific vocal-tract factor and perturbed per speaker ("idiolect");
- fricative / plosive noise bursts and nasal murmurs between vowels;
- a speaker-specific timbre (three peaking filters: voice quality and the
  speaker's recording channel, as each LibriSpeech reader has their own);
- a speaker-specific speaking rate, with short pauses between words and longer
  ones between phrases, so that activity detection and trimming have work.
The transcript spells the synthesised syllables. Everything is seeded per
(seed, subset, speaker) or (seed, split, file): same config, same bytes.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import signal

from tsepn.audio import write_audio
from tsepn.config import load_config
from tsepn.data.mini_brir import MiniBrirConfig, make_mini_brirs
from tsepn.fileio import write_text_atomic

log = logging.getLogger(__name__)

# Real subset names, so that recipes written for LibriSpeech find the same folders.
SUBSET_NAMES = {"train": "train-clean-360", "dev": "dev-clean", "test": "test-clean"}
NOISE_SPLITS = ("tr", "cv", "tt")
NOISE_KINDS = ("pink", "hum", "band", "clicks")
# Bump when the synthesis changes, so that stage 0 regenerates an existing corpus.
GENERATOR_VERSION = 3


@dataclass
class SubsetSize:
    speakers: int = 8
    utterances_per_speaker: int = 8
    chapters_per_speaker: int = 2


@dataclass
class NoiseSize:
    tr: int = 6
    cv: int = 3
    tt: int = 3
    seconds: float = 20.0
    # WHAM! noise is 2-channel 16 kHz audio (LibriMix reads `s[:, 0]` of each file).
    channels: int = 2


@dataclass
class MiniCorpusConfig:
    """Sizes of the mini corpus (recipe: conf/mini.yaml)."""

    seed: int = 0
    sample_rate: int = 16000
    utterance_seconds: List[float] = field(default_factory=lambda: [3.0, 6.0])
    train: SubsetSize = field(default_factory=lambda: SubsetSize(speakers=400, utterances_per_speaker=3, chapters_per_speaker=1))
    dev: SubsetSize = field(default_factory=SubsetSize)
    test: SubsetSize = field(default_factory=SubsetSize)
    noise: NoiseSize = field(default_factory=NoiseSize)
    # binaural recipe: synthetic BRIR sets in the real sets' layouts under <out>/brirs
    # (tsepn.data.mini_brir); null (the monaural recipe): none
    brirs: Optional[MiniBrirConfig] = None

    def check(self, source: str = "<config>") -> None:
        from tsepn.config import ConfigError

        lo, hi = (self.utterance_seconds + [0, 0])[:2]
        if len(self.utterance_seconds) != 2 or not 0.5 <= lo <= hi:
            raise ConfigError(f"{source}: utterance_seconds must be [min, max] with 0.5 <= min <= max")
        for name in SUBSET_NAMES:
            size = getattr(self, name)
            if size.speakers < 1 or not 1 <= size.chapters_per_speaker <= size.utterances_per_speaker:
                raise ConfigError(
                    f"{source}: {name}: need speakers >= 1 and 1 <= chapters_per_speaker <= utterances_per_speaker"
                )
        if min(self.noise.tr, self.noise.cv, self.noise.tt) < 1 or self.noise.seconds < 1:
            raise ConfigError(f"{source}: noise: at least one file of >= 1 s per split")
        if self.noise.channels not in (1, 2):
            raise ConfigError(f"{source}: noise.channels must be 1 or 2")


def load_mini_config(path=None, overrides: Sequence[str] = ()) -> MiniCorpusConfig:
    cfg = load_config(MiniCorpusConfig, path, overrides)
    cfg.check(str(path) if path else "<defaults>")
    return cfg


# ---------------------------------------------------------------------------
# Phonetic inventory
# ---------------------------------------------------------------------------
# (F1, F2, F3) in Hz: adult male averages after Peterson & Barney (1952).
VOWELS: Dict[str, Tuple[float, float, float]] = {
    "EE": (270, 2290, 3010),
    "I": (390, 1990, 2550),
    "E": (530, 1840, 2480),
    "A": (660, 1720, 2410),
    "O": (730, 1090, 2440),
    "AW": (570, 840, 2410),
    "OO": (300, 870, 2240),
    "U": (640, 1190, 2390),
    "ER": (490, 1350, 1690),
}
# consonant -> (kind, low Hz, high Hz): noise band of a fricative or burst.
CONSONANTS: Dict[str, Tuple[str, float, float]] = {
    "S": ("fricative", 4000, 7500),
    "SH": ("fricative", 2000, 4500),
    "F": ("fricative", 1200, 7000),
    "Z": ("voiced_fricative", 3500, 7000),
    "T": ("plosive", 3000, 6500),
    "K": ("plosive", 1500, 3500),
    "P": ("plosive", 400, 1800),
    "M": ("nasal", 0, 0),
    "N": ("nasal", 0, 0),
}


@dataclass
class Voice:
    """Everything that makes one synthetic speaker sound like themselves."""

    sex: str
    f0: float  # mean fundamental frequency, Hz
    f0_range: float  # intonation excursion, semitones
    tract: float  # formant scale (shorter vocal tract -> higher formants)
    idiolect: np.ndarray  # [n_vowels, 3] per-speaker formant multipliers
    bandwidth: float  # formant bandwidth scale
    open_quotient: float  # glottal open phase / period
    breath: float  # aspiration noise level
    rate: float  # syllables per second
    fricative_shift: float  # scales the fricative bands
    jitter: float  # relative f0 perturbation
    phrase_words: Tuple[int, int]  # words per phrase
    vowel_pref: np.ndarray  # vowel probabilities (habits)
    consonant_pref: np.ndarray  # consonant probabilities
    colour: Tuple[Tuple[float, float, float], ...]  # (Hz, dB, Q) peaks: timbre and recording channel


def draw_voice(rng: np.random.Generator, sex: str) -> Voice:
    male = sex == "M"
    n_v, n_c = len(VOWELS), len(CONSONANTS)
    return Voice(
        sex=sex,
        f0=float(np.exp(rng.uniform(np.log(85), np.log(155)) if male else rng.uniform(np.log(165), np.log(260)))),
        f0_range=float(rng.uniform(0.5, 2.0)),
        tract=float(rng.uniform(0.86, 1.04) if male else rng.uniform(1.06, 1.24)),
        idiolect=rng.uniform(0.92, 1.08, size=(n_v, 3)),
        bandwidth=float(rng.uniform(0.7, 1.5)),
        open_quotient=float(rng.uniform(0.4, 0.75)),
        breath=float(rng.uniform(0.01, 0.15)),
        rate=float(rng.uniform(3.0, 5.5)),
        fricative_shift=float(rng.uniform(0.85, 1.15)),
        jitter=float(rng.uniform(0.002, 0.015)),
        phrase_words=(int(rng.integers(2, 4)), int(rng.integers(4, 8))),
        vowel_pref=rng.dirichlet(np.full(n_v, 2.0)),
        consonant_pref=rng.dirichlet(np.full(n_c, 2.0)),
        colour=tuple(
            (float(np.exp(rng.uniform(np.log(200), np.log(5000)))), float(rng.uniform(-8, 8)), float(rng.uniform(0.7, 2.5)))
            for _ in range(3)
        ),
    )


# ---------------------------------------------------------------------------
# Speech synthesis
# ---------------------------------------------------------------------------
@dataclass
class _Event:
    kind: str  # "vowel" or a consonant kind
    phone: str
    start: int  # sample
    length: int
    gain: float


class SpeakerSynth:
    """Synthesises utterances for one `Voice` (filters designed once per speaker)."""

    def __init__(self, voice: Voice, sample_rate: int):
        self.voice = voice
        self.sr = sample_rate
        self.flow_table = self._rosenberg_table(voice.open_quotient)
        nyq = sample_rate / 2
        self.vowel_filters = {}
        for i, (name, formants) in enumerate(VOWELS.items()):
            freqs = np.asarray(formants) * voice.tract * voice.idiolect[i]
            self.vowel_filters[name] = self._resonators(freqs, np.array([70.0, 100.0, 140.0]) * voice.bandwidth)
        self.colour = np.concatenate([_peaking_sos(f, g, q, sample_rate) for f, g, q in voice.colour])
        self.nasal_filter = self._resonators(np.array([260.0, 2100.0]) * voice.tract, np.array([80.0, 300.0]))
        self.noise_filters = {}
        for name, (kind, lo, hi) in CONSONANTS.items():
            if kind == "nasal":
                continue
            band = np.clip(np.array([lo, hi]) * voice.fricative_shift, 100, nyq * 0.95)
            self.noise_filters[name] = signal.butter(2, band / nyq, btype="bandpass", output="sos")

    def _resonators(self, freqs: np.ndarray, bandwidths: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Cascade of two-pole resonators, as one (b, a) filter with unit gain at DC."""
        a = np.array([1.0])
        for f, bw in zip(freqs, bandwidths):
            f = min(f, self.sr * 0.45)
            r = np.exp(-np.pi * bw / self.sr)
            a = np.convolve(a, [1.0, -2 * r * np.cos(2 * np.pi * f / self.sr), r * r])
        return np.array([a.sum()]), a

    # -- planning ---------------------------------------------------------
    def plan(self, rng: np.random.Generator, seconds: float) -> Tuple[List[_Event], List[List[str]], int]:
        """Lay out words, syllables and pauses; returns events, words (as phone lists), length."""
        v, sr = self.voice, self.sr
        vowels, consonants = list(VOWELS), list(CONSONANTS)
        syllable_s = 1.0 / v.rate
        pos = int(sr * rng.uniform(0.15, 0.5))  # leading silence
        end_target = int(sr * seconds) - int(sr * rng.uniform(0.15, 0.4))
        events: List[_Event] = []
        words: List[List[str]] = []
        words_left = int(rng.integers(v.phrase_words[0], v.phrase_words[1] + 1))
        while True:
            n_syllables = int(rng.integers(1, 4))
            if words and pos + n_syllables * syllable_s * sr > end_target:
                break  # the next word would not fit: end the utterance
            phones: List[str] = []
            for _ in range(n_syllables):
                if rng.random() < 0.7:
                    pos = self._add_consonant(rng, events, phones, consonants, pos, syllable_s)
                vowel = vowels[rng.choice(len(vowels), p=v.vowel_pref)]
                n = int(sr * syllable_s * rng.uniform(0.45, 0.75))
                events.append(_Event("vowel", vowel, pos, n, float(10 ** (rng.uniform(-4, 2) / 20))))
                phones.append(vowel)
                pos += n
                if rng.random() < 0.25:
                    pos = self._add_consonant(rng, events, phones, consonants, pos, syllable_s)
            words.append(phones)
            words_left -= 1
            if words_left <= 0:  # phrase boundary: a long pause
                pos += int(sr * rng.uniform(0.3, 0.7))
                words_left = int(rng.integers(v.phrase_words[0], v.phrase_words[1] + 1))
            elif rng.random() < 0.6:  # short pause between words
                pos += int(sr * rng.uniform(0.04, 0.15))
        speech_end = max(ev.start + ev.length for ev in events)
        total = max(speech_end + int(sr * rng.uniform(0.15, 0.4)), int(sr * seconds))
        return events, words, total

    def _add_consonant(self, rng, events, phones, consonants, pos, syllable_s) -> int:
        name = consonants[rng.choice(len(consonants), p=self.voice.consonant_pref)]
        kind = CONSONANTS[name][0]
        sr = self.sr
        if kind == "plosive":
            pos += int(sr * rng.uniform(0.02, 0.05))  # closure: silence before the burst
            n = int(sr * rng.uniform(0.012, 0.03))
            gain = 10 ** (rng.uniform(-14, -8) / 20)
        else:
            n = int(sr * syllable_s * rng.uniform(0.25, 0.45))
            gain = 10 ** (rng.uniform(-18, -10) / 20) if kind != "nasal" else 10 ** (rng.uniform(-9, -5) / 20)
        events.append(_Event(kind, name, pos, n, float(gain)))
        phones.append(name)
        return pos + n

    # -- rendering ---------------------------------------------------------
    def f0_track(self, rng: np.random.Generator, events: List[_Event], total: int) -> np.ndarray:
        """Per-sample f0: declination over the utterance, accents on vowels, jitter."""
        v, sr = self.voice, self.sr
        hop = sr // 200  # 5 ms control rate
        n_ctrl = total // hop + 2
        t = np.arange(n_ctrl) * hop / sr
        semitones = -rng.uniform(0.5, 1.5) * t / max(t[-1], 1e-3)  # declination
        for ev in events:
            if ev.kind == "vowel" and rng.random() < 0.35:  # pitch accent
                centre = (ev.start + ev.length / 2) / sr
                semitones += v.f0_range * rng.uniform(0.3, 1.0) * np.exp(-0.5 * ((t - centre) / 0.08) ** 2)
        semitones += np.cumsum(rng.normal(0, v.jitter * 17, n_ctrl)) * 0.1  # slow wander
        f0_ctrl = v.f0 * 2 ** (semitones / 12)
        f0 = np.interp(np.arange(total), np.arange(n_ctrl) * hop, f0_ctrl)
        return f0 * (1 + v.jitter * rng.standard_normal(total) * 0.3)

    def glottal_source(self, f0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Rosenberg glottal flow derivative driven by the f0 track, plus breath noise."""
        phase = np.cumsum(f0 / self.sr) % 1.0
        flow = self.flow_table[(phase * (len(self.flow_table) - 1)).astype(np.int64)]
        source = np.diff(flow, prepend=0.0)
        source /= np.max(np.abs(source)) + 1e-9
        return source + self.voice.breath * flow * rng.standard_normal(len(flow))

    @staticmethod
    def _rosenberg_table(open_quotient: float, size: int = 4096) -> np.ndarray:
        """One period of Rosenberg glottal flow (rise 65%, fall 35% of the open phase)."""
        phase = np.linspace(0.0, 1.0, size)
        tp, tn = open_quotient * 0.65, open_quotient * 0.35
        rise = 0.5 * (1 - np.cos(np.pi * phase / tp))
        fall = np.cos(0.5 * np.pi * np.clip(phase - tp, 0, tn) / tn)
        return np.where(phase < tp, rise, np.where(phase < tp + tn, fall, 0.0))

    def render(self, rng: np.random.Generator, seconds: float) -> Tuple[np.ndarray, str]:
        """One utterance (float32 mono, about `seconds` long) and its transcript."""
        sr = self.sr
        events, words, total = self.plan(rng, seconds)
        pad = int(0.01 * sr)
        source = self.glottal_source(self.f0_track(rng, events, total + 2 * pad), rng)
        noise = rng.standard_normal(total + 2 * pad)
        out = np.zeros(total + 2 * pad)
        for ev in events:
            lo, hi = ev.start, ev.start + ev.length + 2 * pad
            if ev.kind == "vowel":
                b, a = self.vowel_filters[ev.phone]
                seg = signal.lfilter(b, a, source[lo:hi])
            elif ev.kind == "nasal":
                b, a = self.nasal_filter
                seg = signal.lfilter(b, a, source[lo:hi])
            else:
                seg = signal.sosfilt(self.noise_filters[ev.phone], noise[lo:hi])
                seg /= np.sqrt(np.mean(seg**2)) + 1e-9
                if ev.kind == "voiced_fricative":
                    b, a = self.nasal_filter
                    voicing = signal.lfilter(b, a, source[lo:hi])
                    seg = seg + 0.5 * voicing / (np.sqrt(np.mean(voicing**2)) + 1e-9)
            out[lo:hi] += ev.gain * seg * _envelope(len(seg), ev.kind == "plosive", sr)
        out = signal.sosfilt(self.colour, out)[pad : pad + total]
        text = " ".join("".join(w) for w in words)
        return out, text


def _peaking_sos(freq: float, gain_db: float, q: float, sr: int) -> np.ndarray:
    """One peaking-EQ biquad (RBJ cookbook) as an sos row."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * min(freq, 0.45 * sr) / sr
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None]


def _envelope(n: int, sharp: bool, sr: int) -> np.ndarray:
    """Raised-cosine attack and release (short for bursts), flat in between."""
    ramp = max(1, min(n // 2, int(sr * (0.003 if sharp else 0.02))))
    env = np.ones(n)
    rise = 0.5 * (1 - np.cos(np.pi * np.arange(ramp) / ramp))
    env[:ramp] = rise
    env[n - ramp :] = rise[::-1]
    return env


def _normalise_speech(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Speech at -28..-20 dBFS on its loud part, over a faint noise floor."""
    loud = np.abs(x) > 0.05 * np.max(np.abs(x))
    rms = np.sqrt(np.mean(x[loud] ** 2)) if loud.any() else 1.0
    x = x * (10 ** (rng.uniform(-28, -20) / 20) / rms)
    floor = signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(len(x)))
    floor *= 10 ** (rng.uniform(-72, -62) / 20) / np.sqrt(np.mean(floor**2))
    x = x + floor
    peak = np.max(np.abs(x))
    return (x * (0.95 / peak) if peak > 0.95 else x).astype(np.float32)


# ---------------------------------------------------------------------------
# Noise synthesis (WHAM!-style ambience, no speech)
# ---------------------------------------------------------------------------
def _coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**exponent, unit RMS (FFT shaping at a fast length)."""
    from scipy.fft import irfft, next_fast_len, rfft

    m = next_fast_len(n, real=True)
    spec = rfft(rng.standard_normal(m))
    freqs = np.arange(len(spec), dtype=float)
    freqs[0] = 1.0
    spec *= freqs ** (-exponent / 2)
    spec[0] = 0.0
    x = irfft(spec, m)[:n]
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _noise_channel(kind: str, rng: np.random.Generator, n: int, sr: int, shared: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    floor = 0.1 * _coloured_noise(rng, n, 1.0)
    if kind == "pink":
        return _coloured_noise(rng, n, float(shared.uniform(0.8, 1.6))) + floor
    if kind == "hum":
        base = float(shared.choice([50.0, 60.0, 100.0, 120.0]))
        wobble = 1 + 0.2 * np.sin(2 * np.pi * shared.uniform(0.05, 0.5) * t)
        harmonics = sum(
            (0.6**k) * np.sin(2 * np.pi * base * (k + 1) * t + shared.uniform(0, 2 * np.pi)) for k in range(8)
        )
        return wobble * harmonics + floor
    if kind == "band":
        out = np.zeros(n)
        for _ in range(int(shared.integers(2, 5))):
            lo = shared.uniform(150, 2500)
            sos = signal.butter(2, [lo / (sr / 2), min(lo * shared.uniform(1.3, 2.5), 0.45 * sr) / (sr / 2)], "bandpass", output="sos")
            rate = shared.uniform(0.5, 6.0)
            env = 1 + 0.8 * np.sin(2 * np.pi * rate * t + shared.uniform(0, 2 * np.pi))
            out += env * signal.sosfilt(sos, rng.standard_normal(n))
        return out / (np.sqrt(np.mean(out**2)) + 1e-12) + floor
    if kind == "clicks":
        impulses = np.zeros(n)
        count = int(shared.uniform(2, 10) * n / sr)
        impulses[shared.integers(0, n, count)] = shared.uniform(0.3, 1.0, count)
        ring_f = shared.uniform(1000, 5000)
        decay = shared.uniform(0.003, 0.03)
        k = np.arange(int(5 * decay * sr)) / sr
        kernel = np.sin(2 * np.pi * ring_f * k) * np.exp(-k / decay)
        clicks = signal.fftconvolve(impulses, kernel)[:n]
        return clicks / (np.sqrt(np.mean(clicks**2)) + 1e-12) + 0.3 * floor
    raise ValueError(f"unknown noise kind {kind!r}")


def synth_noise(kind: str, rng: np.random.Generator, seconds: float, sr: int, channels: int) -> np.ndarray:
    """`[channels, T]` float32 ambience: channels share the source parameters, not the samples."""
    n = int(seconds * sr)
    params_seed = int(rng.integers(2**31))
    chans = [_noise_channel(kind, rng, n, sr, np.random.default_rng(params_seed)) for _ in range(channels)]
    x = np.stack(chans)
    if channels == 2:  # partly correlated ears, as in a real two-microphone recording
        rho = rng.uniform(0.2, 0.8)
        x = np.stack([x[0], rho * x[0] + np.sqrt(1 - rho**2) * x[1]])
    x *= 10 ** (rng.uniform(-32, -22) / 20) / (np.sqrt(np.mean(x**2)) + 1e-12)
    return np.clip(x, -0.99, 0.99).astype(np.float32)


# ---------------------------------------------------------------------------
# Corpus writer
# ---------------------------------------------------------------------------
@dataclass
class _SpeakerJob:
    key: str  # train / dev / test (the config section)
    subset: str
    subset_index: int
    speaker_index: int
    speaker_id: int
    chapters: List[int]
    sex: str


def _speaker_jobs(cfg: MiniCorpusConfig) -> List[_SpeakerJob]:
    """Disjoint numeric speaker and chapter ids per subset (LibriSpeech style)."""
    jobs = []
    next_speaker, next_chapter = 100, 1000
    for subset_index, (key, subset) in enumerate(SUBSET_NAMES.items()):
        size: SubsetSize = getattr(cfg, key)
        for i in range(size.speakers):
            chapters = list(range(next_chapter, next_chapter + size.chapters_per_speaker))
            next_chapter += size.chapters_per_speaker + 3
            sex = "F" if i % 2 == 0 else "M"
            jobs.append(_SpeakerJob(key, subset, subset_index, i, next_speaker, chapters, sex))
            next_speaker += 7
    return jobs


def _write_speaker(args) -> Tuple[str, int, str, float]:
    """Generate and write one speaker's chapters; returns (subset, speaker, sex, minutes)."""
    cfg, job, root = args
    rng = np.random.default_rng([cfg.seed, 1, job.subset_index, job.speaker_index])
    voice = draw_voice(rng, job.sex)
    synth = SpeakerSynth(voice, cfg.sample_rate)
    size: SubsetSize = getattr(cfg, job.key)
    lo, hi = cfg.utterance_seconds
    seconds_total = 0.0
    per_chapter = np.array_split(np.arange(size.utterances_per_speaker), len(job.chapters))
    for chapter, utt_indices in zip(job.chapters, per_chapter):
        chapter_dir = Path(root) / job.subset / str(job.speaker_id) / str(chapter)
        lines = []
        for j in range(len(utt_indices)):
            audio, text = synth.render(rng, float(rng.uniform(lo, hi)))
            audio = _normalise_speech(audio, rng)
            utt = f"{job.speaker_id}-{chapter}-{j:04d}"
            write_audio(chapter_dir / f"{utt}.flac", audio[None], cfg.sample_rate, subtype="PCM_16")
            lines.append(f"{utt} {text}\n")
            seconds_total += len(audio) / cfg.sample_rate
        if lines:
            write_text_atomic(chapter_dir / f"{job.speaker_id}-{chapter}.trans.txt", "".join(lines))
    return job.subset, job.speaker_id, job.sex, seconds_total / 60


def _write_noise(args) -> str:
    cfg, split_index, split, index, root = args
    kind = NOISE_KINDS[index % len(NOISE_KINDS)]
    rng = np.random.default_rng([cfg.seed, 2, split_index, index])
    audio = synth_noise(kind, rng, cfg.noise.seconds, cfg.sample_rate, cfg.noise.channels)
    path = Path(root) / split / f"mini_{split}_{index:03d}_{kind}.wav"
    write_audio(path, audio, cfg.sample_rate, subtype="PCM_16")
    return str(path)


def make_mini_corpus(cfg: MiniCorpusConfig, out_dir, nj: int = 1, progress: bool = True) -> Dict[str, Path]:
    """Write the mini corpus under `out_dir`; returns {"librispeech": ..., "wham": ...[, "brirs": ...]}.

    `out_dir` must be new or empty. Output is a function of `cfg` alone (not of `nj`).
    """
    from tsepn.progress import progress as progress_bar

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: not empty; the mini corpus is written into a new folder")
    libri_root, wham_root = out_dir / "LibriSpeech", out_dir / "wham_noise"
    jobs = _speaker_jobs(cfg)
    speech_args = [(cfg, job, libri_root) for job in jobs]
    noise_args = [
        (cfg, s, split, i, wham_root) for s, split in enumerate(NOISE_SPLITS) for i in range(getattr(cfg.noise, split))
    ]
    tasks = [(_write_speaker, a) for a in speech_args] + [(_write_noise, a) for a in noise_args]
    results = []
    bar = progress_bar(total=len(tasks), desc="mini corpus", unit="file-group", disable=not progress)
    if nj > 1:
        import multiprocessing

        with multiprocessing.Pool(nj) as pool:
            for res in pool.imap(_call, tasks):
                results.append(res)
                bar.update()
    else:
        for task in tasks:
            results.append(_call(task))
            bar.update()
    bar.close()
    speakers = [r for r in results if isinstance(r, tuple)]
    _write_speakers_txt(libri_root / "SPEAKERS.TXT", speakers)
    log.info("mini corpus: %d speakers, %d noise files under %s", len(speakers), len(noise_args), out_dir)
    roots = {"librispeech": libri_root, "wham": wham_root}
    if cfg.brirs is not None:
        roots["brirs"] = out_dir / "brirs"
        make_mini_brirs(cfg.brirs, roots["brirs"])
    return roots


def _call(task):
    fn, args = task
    return fn(args)


def _write_speakers_txt(path: Path, speakers) -> None:
    """SPEAKERS.TXT in LibriSpeech's layout (';' comments, '|' separated columns)."""
    lines = [
        "; Synthetic speakers of the tsepn mini corpus (LibriSpeech SPEAKERS.TXT layout)\n",
        ";ID  |SEX| SUBSET           |MINUTES| NAME\n",
    ]
    for subset, spk, sex, minutes in sorted(speakers, key=lambda r: r[1]):
        lines.append(f"{spk:<5}| {sex} | {subset:<16} | {minutes:5.2f} | Mini Speaker {spk}\n")
    write_text_atomic(path, "".join(lines))


def config_fingerprint(cfg: MiniCorpusConfig) -> str:
    """A short hash of the config: the stage-0 marker says which corpus is on disk."""
    import hashlib
    import json

    fields = dataclasses.asdict(cfg)
    if fields["brirs"] is None:  # a corpus without BRIRs keeps the fingerprint it had before they existed
        del fields["brirs"]
    blob = json.dumps({"generator": GENERATOR_VERSION, **fields}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


__all__ = [
    "MiniCorpusConfig",
    "SubsetSize",
    "NoiseSize",
    "load_mini_config",
    "make_mini_corpus",
    "draw_voice",
    "SpeakerSynth",
    "synth_noise",
    "config_fingerprint",
    "SUBSET_NAMES",
    "NOISE_SPLITS",
]
