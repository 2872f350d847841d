"""Seeded sampling of scenario specs: who talks where, how loud, over which noise.

Pure: no audio is read and nothing but `numpy.random.Generator` seeded by
(seed, epoch, index) is random, so example i is the same whatever the order or
the number of workers, and a test set is a file (`scenarios.jsonl`, one spec per
line). `tsepn.data.render` turns a spec into signals, deterministically.

The spec (a JSON object; all positions and lengths in samples)
------------------------------------------------------------------
id               example id, e.g. "test_m2e2-000007"
condition        "m<N>e<M>": N speakers in the mixture, M in the enrollments (target included)
sample_rate      Hz of every signal
channels         output channels (1 = mono; a BRIR sets the spatial image per channel)
speech_dir       Kaldi data dir the utterance ids refer to (wav.scp, utt2spk, utt2dur, activity)
noise_dir        Kaldi data dir of the noise ids (wav.scp, utt2dur)
trim             {"max_pause_s": s, "edge_s": s}: silence trimming of every utterance (pauses
                 longer than max_pause_s shortened to it, at most edge_s kept at both ends)
lengths          {"mix": n, "pos": n, "neg": n}: length of the mixture and of the enrollments
target_speaker   the speaker to extract
target_level_db  level (dB re full scale, RMS) of the target in every recording
snr_db           noise level: SNR of the target in the mixture to the noise; the noise of the
                 enrollments has the same power as the mixture's (one acoustic scene)
noise            {"mix"|"pos"|"neg": {"utt": noise id, "offset": first sample}}; the noise
                 file repeats if it is shorter than what is read
sources          list, target first, of
    name         unique in the example: "target", "mix1", "mix2", "enr1", ...
    role         "target" | "mixture_interferer" | "enrollment_interferer"
    type         enrollment interferers: "partial" | "negative" | "hybrid" | "neglect"; else null
    speaker      speaker id
    gain_db      level relative to the target (0 for the target)
    mix, pos, neg   a placement in that recording, or null when the source is absent:
        utts     utterance ids; their trimmed audio is concatenated into one stream that
                 repeats when it runs out (a speaker with little speech is filled by
                 repetition; a speaker below `min_speaker_speech_seconds` is never drawn)
        offset   first stream sample used
        start    where it is placed in the recording
        length   how many samples are placed
        brir     the binaural room impulse response to convolve with, or null: an audio spec,
                 or `<scene>.npy:<m>` (a response of a prepared BRIR list, tsepn.data.brir)
candidates       (only with scenario.candidate_count > 0) candidate references for reference
                 selection: other recordings of the target, each a list entry of
    utts, offset, length   a stream of the target's utterances that the mixture does not use
                 (those the positive enrollment does not use either, when any are left; else
                 the positive's, from a random offset), `length` samples from `offset`
    snr_db       the candidate's own noise level (SNR of the target to the noise): its quality
    noise        {"utt": noise id, "offset": first sample} of the candidate's noise
                 Drawn from a stream of their own (seed, epoch, index, 0xCA), so every other
                 draw of the spec is the same with or without them.
binaural         (binaural sets only) {"set": cipic|rrbrir|ash|catt, "scene": scene id,
                 "reference": "reverberant" | "direct", "direct_path_ms": ms}: the one BRIR
                 scene of the example and what `ref` / `pos_clean` are (see below)

Interferer types in the enrollments (PAPER.md):
    partial   talks during one stretch covering `partial_coverage` of the positive
              enrollment, absent from the negative;
    negative  talks throughout the positive, during a stretch covering `neg_coverage` of
              the negative;
    hybrid    partial in the positive and present (`neg_coverage`) in the negative;
    neglect   silent in the positive, present (`neg_coverage`) in the negative.
The target talks throughout the mixture and the positive enrollment, with different
utterances in each, and never in the negative enrollment; in a target-absent example
(`target_absent: true`, the test_absent set) its mixture placement is null: silent there. Mixture interferers talk
throughout the mixture and nowhere else. All speakers of an example are different
people (enrollment interferers are drawn among the mixture interferers first only with
`enroll_interferers_from_mixture`), and all come from `speech_dir`: a set never mixes
in another set's speakers. Every placed stretch is rendered at target_level_db +
gain_db (RMS over the stretch). Ids of epochs > 0 end in "-e<epoch>-<index>".

Binaural scenes (a set with `brir:`, the prepared BRIR split to draw from; channels 2):
one scene per example, its set drawn with `brir_weights` (the paper: CIPIC 35, RRBRIR 5,
ASH 45, CATT 15; sets absent from the split are left out and the rest renormalised), then a
scene of that set uniformly. Every placement gets a response of that scene: in each
recording the sources take different directions; the target of the positive enrollment
takes the scene's facing (0 degree) response (tsepn.data.brir: scene2face), the other
sources of the positive enrollment other directions. `reverb_enrollments: false` leaves the
enrollments dry (both ears alike). `binaural_reference` says what `ref` (and `pos_clean`)
are: "reverberant" (default, as the authors' simulation: the target convolved with its full
response, i.e. the target's image exactly as it is in the mixture) or "direct" (the target
convolved with the direct part of its response only: up to `direct_path_ms` after the
later ear's peak; ITD and ILD kept, reverberation removed: a dereverberation target).
The BRIR draws use their own random stream, so a binaural spec places the same utterances,
gains and noise as the monaural spec of the same seed and index.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from tsepn.config import ConfigError, from_dict, load_config
from tsepn.data.pools import NoisePool, PoolError, SpeechPool
from tsepn.fileio import read_table

log = logging.getLogger(__name__)

INTERFERER_TYPES = ("partial", "negative", "hybrid", "neglect")
BINAURAL_REFERENCES = ("reverberant", "direct")
BRIR_SET_NAMES = ("cipic", "rrbrir", "ash", "catt")  # tsepn.data.brir.SET_NAMES
RECORDINGS = ("mix", "pos", "neg")


class SpecError(ValueError):
    """A malformed scenario spec; the message names the file and line when known."""


# --------------------------------------------------------------------------- config


@dataclass
class ScenarioConf:
    """The distribution one set's examples are drawn from ([low, high] ranges are uniform)."""

    sample_rate: int = 16000
    channels: int = 1
    mix_seconds: float = 3.0
    pos_seconds: float = 3.0
    neg_seconds: float = 3.0
    mix_speakers: List[int] = field(default_factory=lambda: [2, 3])  # choices, target included
    enroll_speakers: List[int] = field(default_factory=lambda: [2, 3])
    # exact types of the enrollment interferers (one per interferer); empty = draw by type_weights
    interferer_types: List[str] = field(default_factory=list)
    type_weights: Dict[str, float] = field(default_factory=lambda: {t: 1.0 for t in INTERFERER_TYPES})
    enroll_interferers_from_mixture: bool = False  # False: enrollment interferers are other people
    target_level_db: List[float] = field(default_factory=lambda: [-28.0, -22.0])
    interferer_gain_db: List[float] = field(default_factory=lambda: [-5.0, 5.0])
    snr_db: List[float] = field(default_factory=lambda: [-2.5, 2.5])
    partial_coverage: List[float] = field(default_factory=lambda: [0.33, 0.66])
    neg_coverage: List[float] = field(default_factory=lambda: [0.33, 1.0])
    trim_max_pause_seconds: float = 0.3  # longer pauses inside an utterance are shortened to this
    trim_edge_seconds: float = 0.1  # silence kept before the first and after the last speech span
    min_speaker_speech_seconds: float = 1.0
    brir_scp: Optional[str] = None  # `<id> <audio spec>` of BRIRs, one drawn per placement
    # binaural scenes (sets with `brir:`), see the module docstring
    brir_weights: Dict[str, float] = field(default_factory=lambda: {"cipic": 35.0, "rrbrir": 5.0, "ash": 45.0,
                                                                     "catt": 15.0})
    reverb_enrollments: bool = True  # False: enrollments are not convolved (dry, both ears alike)
    binaural_reference: str = "reverberant"  # reverberant | direct: what ref and pos_clean are
    direct_path_ms: float = 2.5  # "direct": response kept up to this long after its peak
    # the target is silent in the mixture (its enrollments as usual): the target-absent test set;
    # mix_speakers still counts the target's slot, so [2] = one other speaker talks
    target_absent: bool = False
    # candidate references (reference selection; spec key `candidates`): 0 = none, the spec as before
    candidate_count: int = 0
    candidate_seconds: float = 1.0
    candidate_snr_db: List[float] = field(default_factory=lambda: [0.0, 20.0])  # each candidate's noise level


@dataclass
class SetConf:
    """One simulated set: where its speech and noise come from, how many examples, which seed."""

    name: str
    speech: str  # data dir name under --data-dir, e.g. "test"
    noise: str  # e.g. "noise_tt"
    seed: int
    num_examples: int = 0  # 0 = one example per usable target speaker (dynamic mixing epochs)
    wrong_enroll: bool = False  # also make <name>_wrong_enroll
    scenario: Dict[str, Any] = field(default_factory=dict)  # overrides of the shared ScenarioConf
    brir: Optional[str] = None  # binaural: prepared BRIR split under --data-dir (e.g. brir_test), else null


@dataclass
class SimulateConf:
    """conf/simulate.yaml: the shared scenario, the rendered sets and the training set."""

    audio_format: str = "flac"  # flac | ark
    scenario: ScenarioConf = field(default_factory=ScenarioConf)
    sets: List[SetConf] = field(default_factory=list)
    train: Optional[SetConf] = None


def load_simulate_conf(path, overrides: Sequence[str] = ()) -> SimulateConf:
    """Load and check conf/simulate.yaml, including every set's scenario overrides."""
    conf = load_config(SimulateConf, path, overrides)
    source = str(path)
    if conf.audio_format not in ("flac", "ark"):
        raise ConfigError(f"{source}: audio_format must be flac or ark, got {conf.audio_format!r}")
    check_scenario(conf.scenario, f"{source}: scenario")
    names = set()
    for set_conf in conf.sets + ([conf.train] if conf.train else []):
        if set_conf.name in names:
            raise ConfigError(f"{source}: set name {set_conf.name!r} appears twice")
        names.add(set_conf.name)
        scenario_for(conf, set_conf, source)
    return conf


def scenario_for(conf: SimulateConf, set_conf: SetConf, source: str = "<config>") -> ScenarioConf:
    """The shared scenario with the set's overrides applied, checked."""
    merged = dataclasses.asdict(conf.scenario)
    merged.update(set_conf.scenario)
    where = f"{source}: sets[{set_conf.name}].scenario"
    scenario = from_dict(ScenarioConf, merged, source=where)
    check_scenario(scenario, where)
    return scenario


def check_scenario(c: ScenarioConf, where: str) -> None:
    """Reject values that would make sampling impossible or meaningless."""
    for name in ("mix_seconds", "pos_seconds", "neg_seconds", "sample_rate", "channels"):
        if getattr(c, name) <= 0:
            raise ConfigError(f"{where}.{name} must be positive")
    if c.candidate_count < 0 or (c.candidate_count and c.candidate_seconds <= 0):
        raise ConfigError(f"{where}: candidate_count must be >= 0 and candidate_seconds positive, "
                          f"got {c.candidate_count} and {c.candidate_seconds}")
    for name in ("target_level_db", "interferer_gain_db", "snr_db", "partial_coverage", "neg_coverage",
                 "candidate_snr_db"):
        value = getattr(c, name)
        if len(value) != 2 or value[0] > value[1]:
            raise ConfigError(f"{where}.{name} must be [low, high] with low <= high, got {value}")
    for name in ("partial_coverage", "neg_coverage"):
        low, high = getattr(c, name)
        if not 0 < low <= high <= 1:
            raise ConfigError(f"{where}.{name} must lie in (0, 1], got {[low, high]}")
    for name in ("mix_speakers", "enroll_speakers"):
        value = getattr(c, name)
        if not value or any(n < 1 for n in value):
            raise ConfigError(f"{where}.{name} must list counts >= 1 (target included), got {value}")
    unknown = sorted(set(c.interferer_types) - set(INTERFERER_TYPES)) + sorted(set(c.type_weights) - set(INTERFERER_TYPES))
    if unknown:
        raise ConfigError(f"{where}: unknown interferer type(s) {unknown}; known: {list(INTERFERER_TYPES)}")
    if c.interferer_types and set(c.enroll_speakers) != {len(c.interferer_types) + 1}:
        raise ConfigError(
            f"{where}.interferer_types lists {len(c.interferer_types)} type(s), so enroll_speakers must be "
            f"[{len(c.interferer_types) + 1}], got {c.enroll_speakers}"
        )
    if c.binaural_reference not in BINAURAL_REFERENCES:
        raise ConfigError(f"{where}.binaural_reference must be one of {list(BINAURAL_REFERENCES)}, "
                          f"got {c.binaural_reference!r}")
    bad = sorted(set(c.brir_weights) - set(BRIR_SET_NAMES))
    if bad:
        raise ConfigError(f"{where}.brir_weights: unknown BRIR set(s) {bad}; known: {list(BRIR_SET_NAMES)}")
    if any(w < 0 for w in c.brir_weights.values()) or (c.brir_weights and sum(c.brir_weights.values()) <= 0):
        raise ConfigError(f"{where}.brir_weights must be >= 0 with a positive sum, got {c.brir_weights}")
    if c.direct_path_ms <= 0:
        raise ConfigError(f"{where}.direct_path_ms must be positive")
    weights = list(c.type_weights.values())
    if not c.interferer_types and (any(w < 0 for w in weights) or sum(weights) <= 0):
        raise ConfigError(f"{where}.type_weights must be >= 0 with a positive sum, got {c.type_weights}")
    for name in ("trim_max_pause_seconds", "trim_edge_seconds", "min_speaker_speech_seconds"):
        if getattr(c, name) < 0:
            raise ConfigError(f"{where}.{name} must be >= 0")


# --------------------------------------------------------------------------- sampler


class ScenarioSampler:
    """Draws spec i of a set from its speech and noise pools; same (seed, epoch, i) = same spec."""

    def __init__(self, conf: ScenarioConf, speech: SpeechPool, noise: NoisePool, seed: int, id_prefix: str,
                 brirs: Optional[Dict[str, str]] = None, brir_scenes=None):
        self.conf = conf
        self.speech = speech
        self.noise = noise
        self.seed = seed
        self.id_prefix = id_prefix
        self.brirs = sorted((brirs or {}).values())
        self.brir_scenes = brir_scenes  # tsepn.data.brir.BrirScenes: binaural scenes, or None
        if brir_scenes is not None:
            self._check_brir_scenes()
        sr = conf.sample_rate
        self.lengths = {"mix": round(conf.mix_seconds * sr), "pos": round(conf.pos_seconds * sr),
                        "neg": round(conf.neg_seconds * sr)}
        self.targets, self.interferers = self._eligible_speakers()
        self._check_enough_speakers()

    @classmethod
    def from_dirs(cls, conf: ScenarioConf, speech_dir, noise_dir, seed: int, id_prefix: str,
                  brir_dir=None) -> "ScenarioSampler":
        sr = conf.sample_rate
        speech = SpeechPool(speech_dir, sr, conf.trim_max_pause_seconds, conf.trim_edge_seconds)
        noise = NoisePool(noise_dir, sr)
        brirs = read_table(conf.brir_scp) if conf.brir_scp else None
        scenes = None
        if brir_dir is not None:
            from tsepn.data.brir import BrirScenes

            scenes = BrirScenes.load(brir_dir)
        return cls(conf, speech, noise, seed, id_prefix, brirs, scenes)

    def _check_brir_scenes(self) -> None:
        where = self.brir_scenes.data_dir
        if self.conf.channels != 2:
            raise ConfigError(f"{where}: binaural scenes need scenario.channels 2, got {self.conf.channels}")
        if self.brirs:
            raise ConfigError(f"{where}: give either brir_scp or a prepared BRIR split (set key `brir`), not both")
        usable = [s for s, w in self.conf.brir_weights.items() if w > 0 and s in self.brir_scenes.by_set]
        if not usable:
            raise ConfigError(f"{where}: none of the BRIR sets with a positive weight ({self.conf.brir_weights}) "
                              f"has a scene here (sets: {sorted(self.brir_scenes.by_set)})")

    def _eligible_speakers(self) -> Tuple[List[str], List[str]]:
        min_speech = self.conf.min_speaker_speech_seconds * self.conf.sample_rate
        interferers, targets, dropped = [], [], []
        for speaker in sorted(self.speech.by_speaker):
            if self.speech.speech_samples(speaker) < min_speech:
                dropped.append(speaker)
                continue
            interferers.append(speaker)
            if len(self.speech.by_speaker[speaker]) >= 2:  # mixture and enrollment need different utterances
                targets.append(speaker)
        if dropped:
            log.warning("%s: %d speaker(s) with under %.1f s of speech are not used: %s", self.speech.data_dir,
                        len(dropped), self.conf.min_speaker_speech_seconds, " ".join(dropped[:5]))
        return targets, interferers

    def _check_enough_speakers(self) -> None:
        c = self.conf
        if not self.targets:
            raise PoolError(f"{self.speech.data_dir}: no speaker has 2 utterances with speech and "
                            f">= {c.min_speaker_speech_seconds} s of it, so none can be a target")
        most_mix, most_enroll = max(c.mix_speakers) - 1, max(c.enroll_speakers) - 1
        needed = most_mix + (most_enroll if not c.enroll_interferers_from_mixture else max(0, most_enroll - most_mix))
        if len(self.interferers) - 1 < needed:
            raise PoolError(f"{self.speech.data_dir}: {len(self.interferers)} usable speaker(s), but a target with "
                            f"{most_mix} mixture and {most_enroll} enrollment interferer(s) needs {needed + 1}")

    def __len__(self) -> int:
        return len(self.targets)

    def sample(self, index: int, epoch: int = 0, target: Optional[str] = None) -> Dict[str, Any]:
        """Spec of example `index` (of `epoch`); `target` fixes the target speaker."""
        rng = np.random.default_rng([self.seed, epoch, index])
        c = self.conf
        n_mix = int(rng.choice(c.mix_speakers))
        n_enroll = int(rng.choice(c.enroll_speakers))
        if target is None:
            target = str(rng.choice(self.targets))
        elif target not in self.targets:
            raise PoolError(f"{self.speech.data_dir}: {target!r} is not a usable target speaker")
        mix_int, enroll_int = self._interferers(rng, target, n_mix - 1, n_enroll - 1)
        types = self._types(rng, len(enroll_int))
        level = _uniform(rng, c.target_level_db)
        snr = _uniform(rng, c.snr_db)
        sources = [self._target(rng, target)]
        if c.target_absent:
            sources[0]["mix"] = None  # drawn all the same, so the other draws match the usual set's
        for k, speaker in enumerate(mix_int, start=1):
            sources.append(self._mixture_interferer(rng, f"mix{k}", speaker))
        for k, (speaker, kind) in enumerate(zip(enroll_int, types), start=1):
            sources.append(self._enrollment_interferer(rng, f"enr{k}", speaker, kind))
        suffix = f"-e{epoch}" if epoch else ""
        spec = {
            "id": f"{self.id_prefix}{suffix}-{index:06d}",
            "condition": f"m{n_mix}e{n_enroll}",
            "sample_rate": c.sample_rate,
            "channels": c.channels,
            "speech_dir": str(self.speech.data_dir),
            "noise_dir": str(self.noise.data_dir),
            "trim": {"max_pause_s": self.speech.trim[0], "edge_s": self.speech.trim[1]},
            "lengths": dict(self.lengths),
            "target_speaker": target,
            "target_level_db": level,
            "snr_db": snr,
            "noise": self._noise(rng),
            "sources": sources,
        }
        if self.brir_scenes is not None:
            spec["binaural"] = self._spatialise(np.random.default_rng([self.seed, epoch, index, 0xB1]), sources)
        if c.candidate_count:
            spec["candidates"] = self._candidates(np.random.default_rng([self.seed, epoch, index, 0xCA]), sources[0])
        return spec

    def _candidates(self, rng, target: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Candidate references: other recordings of the target (never the mixture's utterances)."""
        c = self.conf
        speaker = target["speaker"]
        used_mix = set(target["mix"]["utts"]) if target["mix"] else set()
        used_pos = set(target["pos"]["utts"])
        utts = sorted(self.speech.by_speaker[speaker])
        pool = [u for u in utts if u not in used_mix and u not in used_pos] or [u for u in utts if u not in used_mix]
        if not pool:
            raise PoolError(f"{self.speech.data_dir}: target {speaker!r} has no utterance the mixture does not use")
        length = round(c.candidate_seconds * c.sample_rate)
        out = []
        for _ in range(c.candidate_count):
            placement = self._placement(rng, list(rng.permutation(pool)), 0, length)
            noise = str(rng.choice(self.noise.names))
            out.append({"utts": placement["utts"], "offset": placement["offset"], "length": length,
                        "snr_db": _uniform(rng, c.candidate_snr_db),
                        "noise": {"utt": noise, "offset": int(rng.integers(0, self.noise.samples[noise]))}})
        return out

    # -- binaural scene

    def _spatialise(self, rng, sources: List[Dict[str, Any]]) -> Dict[str, Any]:
        """Draw the example's BRIR scene and give every placement a response of it (module docstring)."""
        c, scenes = self.conf, self.brir_scenes
        names = [s for s in BRIR_SET_NAMES if c.brir_weights.get(s, 0) > 0 and s in scenes.by_set]
        weights = np.array([c.brir_weights[s] for s in names], dtype=float)
        set_name = str(rng.choice(names, p=weights / weights.sum()))
        scene = str(rng.choice(scenes.by_set[set_name]))
        entries = scenes.responses[scene]
        face = scenes.entry(scene, scenes.face[scene])
        for rec in RECORDINGS:
            if rec != "mix" and not c.reverb_enrollments:
                continue
            taken = set()
            for k, source in enumerate(sources):
                placement = source[rec]
                if placement is None:
                    continue
                if rec == "pos" and k == 0:
                    entry = face
                else:
                    # another direction than the sources already placed (any, if the scene has too few)
                    pool = [e for e in entries if (e.azimuth, e.elevation) not in taken] or entries
                    entry = pool[int(rng.integers(len(pool)))]
                taken.add((entry.azimuth, entry.elevation))
                placement["brir"] = entry.spec
        return {"set": set_name, "scene": scene, "reference": c.binaural_reference,
                "direct_path_ms": c.direct_path_ms}

    # -- speakers and types

    def _interferers(self, rng, target: str, n_mix: int, n_enroll: int) -> Tuple[List[str], List[str]]:
        others = [s for s in self.interferers if s != target]
        mix_int = [str(s) for s in rng.choice(others, size=n_mix, replace=False)] if n_mix else []
        if self.conf.enroll_interferers_from_mixture:
            enroll = mix_int[:n_enroll]
        else:
            enroll = []
        rest = [s for s in others if s not in mix_int]
        extra = n_enroll - len(enroll)
        if extra:
            enroll += [str(s) for s in rng.choice(rest, size=extra, replace=False)]
        return mix_int, enroll

    def _types(self, rng, count: int) -> List[str]:
        if self.conf.interferer_types:
            return list(self.conf.interferer_types)
        names = sorted(self.conf.type_weights)
        weights = np.array([self.conf.type_weights[n] for n in names], dtype=float)
        return [str(t) for t in rng.choice(names, size=count, p=weights / weights.sum())]

    # -- sources

    def _target(self, rng, speaker: str) -> Dict[str, Any]:
        utts = list(rng.permutation(self.speech.by_speaker[speaker]))
        mix = self._placement(rng, utts[:-1], 0, self.lengths["mix"])
        rest = utts[len(mix["utts"]):]  # the positive enrollment uses other utterances
        pos = self._placement(rng, rest, 0, self.lengths["pos"])
        return _source("target", "target", None, speaker, 0.0, mix=mix, pos=pos)

    def _mixture_interferer(self, rng, name: str, speaker: str) -> Dict[str, Any]:
        gain = _uniform(rng, self.conf.interferer_gain_db)
        mix = self._placement(rng, self._shuffled(rng, speaker), 0, self.lengths["mix"])
        return _source(name, "mixture_interferer", None, speaker, gain, mix=mix)

    def _enrollment_interferer(self, rng, name: str, speaker: str, kind: str) -> Dict[str, Any]:
        gain = _uniform(rng, self.conf.interferer_gain_db)
        n_pos, n_neg = self.lengths["pos"], self.lengths["neg"]
        pos = neg = None
        if kind in ("partial", "hybrid"):
            start, length = self._window(rng, n_pos, self.conf.partial_coverage)
            pos = self._placement(rng, self._shuffled(rng, speaker), start, length)
        elif kind == "negative":
            pos = self._placement(rng, self._shuffled(rng, speaker), 0, n_pos)
        if kind in ("negative", "hybrid", "neglect"):
            start, length = self._window(rng, n_neg, self.conf.neg_coverage)
            neg = self._placement(rng, self._shuffled(rng, speaker), start, length)
        return _source(name, "enrollment_interferer", kind, speaker, gain, pos=pos, neg=neg)

    def _shuffled(self, rng, speaker: str) -> List[str]:
        return list(rng.permutation(self.speech.by_speaker[speaker]))

    def _placement(self, rng, utts: List[str], start: int, length: int) -> Dict[str, Any]:
        """Enough trimmed utterances (in the given order) to cover `length` from a random offset."""
        first = self.speech.utts[utts[0]].length
        offset = int(rng.integers(0, first))
        chosen, covered = [], 0
        for utt in utts:
            chosen.append(str(utt))
            covered += self.speech.utts[utt].length
            if covered >= offset + length:
                break
        brir = str(rng.choice(self.brirs)) if self.brirs else None
        return {"utts": chosen, "offset": offset, "start": int(start), "length": int(length), "brir": brir}

    @staticmethod
    def _window(rng, total: int, coverage: Sequence[float]) -> Tuple[int, int]:
        length = min(total, max(1, round(_uniform(rng, coverage, digits=None) * total)))
        return int(rng.integers(0, total - length + 1)), int(length)

    def _noise(self, rng) -> Dict[str, Dict[str, Any]]:
        """One noise file for the scene; mix, pos and neg read consecutive stretches of it."""
        utt = str(rng.choice(self.noise.names))
        size = self.noise.samples[utt]
        total = sum(self.lengths.values())
        offset = int(rng.integers(0, size - total + 1)) if size >= total else int(rng.integers(0, size))
        out = {}
        for name in RECORDINGS:
            out[name] = {"utt": utt, "offset": offset % size}
            offset += self.lengths[name]
        return out


def _uniform(rng, bounds: Sequence[float], digits: Optional[int] = 3) -> float:
    value = float(rng.uniform(bounds[0], bounds[1])) if bounds[1] > bounds[0] else float(bounds[0])
    return round(value, digits) if digits is not None else value


def _source(name, role, kind, speaker, gain, mix=None, pos=None, neg=None) -> Dict[str, Any]:
    return {"name": name, "role": role, "type": kind, "speaker": speaker, "gain_db": gain,
            "mix": mix, "pos": pos, "neg": neg}


# --------------------------------------------------------------------------- spec files

_SPEC_KEYS = {"id", "condition", "sample_rate", "channels", "speech_dir", "noise_dir", "trim", "lengths",
              "target_speaker", "target_level_db", "snr_db", "noise", "sources"}
_SOURCE_KEYS = {"name", "role", "type", "speaker", "gain_db", "mix", "pos", "neg"}
_PLACEMENT_KEYS = {"utts", "offset", "start", "length", "brir"}
_OPTIONAL_SPEC_KEYS = {"binaural", "candidates"}
_CANDIDATE_KEYS = {"utts", "offset", "length", "snr_db", "noise"}
_BINAURAL_KEYS = {"set", "scene", "reference", "direct_path_ms"}


def check_spec(spec: Any) -> None:
    """Raise SpecError if `spec` does not have the documented shape (see the module docstring)."""
    if not isinstance(spec, dict):
        raise SpecError(f"a spec must be a JSON object, got {type(spec).__name__}")
    _check_keys({k: v for k, v in spec.items() if k not in _OPTIONAL_SPEC_KEYS}, _SPEC_KEYS, "spec")
    if "binaural" in spec:
        binaural = spec["binaural"]
        if not isinstance(binaural, dict):
            raise SpecError("binaural must be an object")
        _check_keys(binaural, _BINAURAL_KEYS, "binaural")
        if binaural["reference"] not in BINAURAL_REFERENCES:
            raise SpecError(f"binaural.reference must be one of {list(BINAURAL_REFERENCES)}, got {binaural['reference']!r}")
        if spec["channels"] != 2:
            raise SpecError(f"a binaural spec has 2 channels, not {spec['channels']}")
    for k, cand in enumerate(spec.get("candidates") or []):
        where = f"candidates[{k}]"
        if not isinstance(cand, dict):
            raise SpecError(f"{where} must be an object")
        _check_keys(cand, _CANDIDATE_KEYS, where)
        if not cand["utts"] or not all(isinstance(u, str) for u in cand["utts"]):
            raise SpecError(f"{where}.utts must be a non-empty list of utterance ids")
        if not isinstance(cand["length"], int) or cand["length"] <= 0 or not isinstance(cand["offset"], int) \
                or cand["offset"] < 0:
            raise SpecError(f"{where}: offset must be a non-negative and length a positive integer")
        if not isinstance(cand["noise"], dict) or not isinstance(cand["noise"].get("utt"), str):
            raise SpecError(f"{where}.noise must be {{'utt': str, 'offset': int}}")
    for name in RECORDINGS:
        if not isinstance(spec["lengths"].get(name), int) or spec["lengths"][name] <= 0:
            raise SpecError(f"lengths.{name} must be a positive integer")
        noise = spec["noise"].get(name)
        if not isinstance(noise, dict) or not isinstance(noise.get("utt"), str) or not isinstance(noise.get("offset"), int):
            raise SpecError(f"noise.{name} must be {{'utt': str, 'offset': int}}")
    if not isinstance(spec["sources"], list) or not spec["sources"] or spec["sources"][0].get("role") != "target":
        raise SpecError("sources must be a list starting with the target")
    target = spec["sources"][0]
    if not (isinstance(target, dict) and target.get("pos")):
        raise SpecError("sources[0] (the target) must be placed in pos (and in mix, unless the example is target-absent)")
    names = set()
    for k, source in enumerate(spec["sources"]):
        where = f"sources[{k}]"
        if not isinstance(source, dict):
            raise SpecError(f"{where} must be an object")
        _check_keys(source, _SOURCE_KEYS, where)
        if source["name"] in names:
            raise SpecError(f"{where}: duplicate source name {source['name']!r}")
        names.add(source["name"])
        for rec in RECORDINGS:
            _check_placement(source[rec], spec["lengths"][rec], f"{where}.{rec}")
        if source["speaker"] == spec["target_speaker"] and (k > 0 or source["neg"] is not None):
            raise SpecError(f"{where}: the target speaker talks only as the target, never in the negative enrollment")


def _check_keys(obj: dict, keys: set, where: str) -> None:
    missing, unknown = sorted(keys - set(obj)), sorted(set(obj) - keys)
    if missing or unknown:
        raise SpecError(f"{where}: missing key(s) {missing}, unknown key(s) {unknown}")


def _check_placement(p: Any, total: int, where: str) -> None:
    if p is None:
        return
    if not isinstance(p, dict):
        raise SpecError(f"{where} must be an object or null")
    _check_keys(p, _PLACEMENT_KEYS, where)
    if not p["utts"] or not all(isinstance(u, str) for u in p["utts"]):
        raise SpecError(f"{where}.utts must be a non-empty list of utterance ids")
    for key in ("offset", "start", "length"):
        if not isinstance(p[key], int) or p[key] < 0:
            raise SpecError(f"{where}.{key} must be a non-negative integer")
    if p["length"] == 0 or p["start"] + p["length"] > total:
        raise SpecError(f"{where}: placement [{p['start']}, {p['start'] + p['length']}) does not fit in {total} samples")


def read_specs(path) -> Iterator[Dict[str, Any]]:
    """Yield the specs of a jsonl file; a bad line raises SpecError naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such scenario file")
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            try:
                spec = json.loads(line)
                check_spec(spec)
            except (json.JSONDecodeError, SpecError) as err:
                raise SpecError(f"{path}:{lineno}: {err}") from None
            yield spec


def spec_line(spec: Dict[str, Any]) -> str:
    """One jsonl line, keys sorted so the file is byte-stable."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":")) + "\n"


# --------------------------------------------------------------------------- sets


def set_sampler(conf: SimulateConf, set_conf: SetConf, data_dir, source: str = "<config>") -> ScenarioSampler:
    """The sampler of one configured set, drawing from `data_dir/<speech>` and `data_dir/<noise>` only."""
    data_dir = Path(data_dir)
    scenario = scenario_for(conf, set_conf, source)
    brir_dir = data_dir / set_conf.brir if set_conf.brir else None
    return ScenarioSampler.from_dirs(scenario, data_dir / set_conf.speech, data_dir / set_conf.noise,
                                     set_conf.seed, set_conf.name, brir_dir)


def sample_set(sampler: ScenarioSampler, num_examples: int) -> List[Dict[str, Any]]:
    """The specs of a fixed set: `num_examples` of them, or (0) one per usable target speaker."""
    if num_examples > 0:
        return [sampler.sample(i) for i in range(num_examples)]
    return [sampler.sample(i, target=t) for i, t in enumerate(sampler.targets)]


def find_set(conf: SimulateConf, name: str, source: str = "<config>") -> SetConf:
    for set_conf in conf.sets + ([conf.train] if conf.train else []):
        if set_conf.name == name:
            return set_conf
    known = [s.name for s in conf.sets] + ([conf.train.name] if conf.train else [])
    raise ConfigError(f"{source}: no set named {name!r}; known: {', '.join(known)}")
