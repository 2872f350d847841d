"""Rendering: determinism, levels, segments against the audio, BRIRs, bad input."""
import copy
import shutil

import numpy as np
import pytest
import soundfile as sf
from sim_corpus import SR, sampler, write_noise_dir, write_speech_dir

from tsepn.audio import AudioError, write_audio
from tsepn.data.pools import SpeechPool
from tsepn.data.render import PEAK, Renderer
from tsepn.data.scenario import SpecError


@pytest.fixture(scope="module")
def smp(corpus):
    return sampler(corpus)


def power(x):
    return float(np.mean(np.square(x, dtype=np.float64)))


def test_shapes_dtypes_and_sums(smp):
    spec = smp.sample(5)
    out = Renderer().render(spec)
    lengths = spec["lengths"]
    for name, rec in (("mix", "mix"), ("ref", "mix"), ("pos", "pos"), ("pos_clean", "pos"), ("neg", "neg")):
        signal = getattr(out, name)
        assert signal.shape == (1, lengths[rec]) and signal.dtype == np.float32
    assert np.array_equal(out.ref, out.images["mix"]["target"])
    assert np.array_equal(out.pos_clean, out.images["pos"]["target"])
    assert "target" not in out.images["neg"]
    # the mixture is the sum of its sources plus noise at the spec's SNR
    noise = out.mix - sum(out.images["mix"].values())
    assert 10 * np.log10(power(out.ref) / power(noise)) == pytest.approx(spec["snr_db"], abs=0.05)
    noise_neg = out.neg - sum(out.images["neg"].values())
    assert power(noise_neg) == pytest.approx(power(noise), rel=0.01)  # one scene: same noise power


def test_interferer_levels_relative_to_the_target(smp):
    for i in range(10):
        spec = smp.sample(i)
        out = Renderer().render(spec)
        target = power(out.ref)
        for src in spec["sources"][1:]:
            if src["mix"] is not None:
                rel = 10 * np.log10(power(out.images["mix"][src["name"]]) / target)
                assert rel == pytest.approx(src["gain_db"], abs=0.05)


def test_target_level_and_peak_limit(smp):
    levels = []
    for i in range(20):
        spec = smp.sample(i)
        out = Renderer().render(spec)
        peak = max(np.abs(getattr(out, n)).max() for n in ("mix", "ref", "pos", "neg", "pos_clean"))
        assert peak <= PEAK + 1e-6
        levels.append(10 * np.log10(power(out.ref)) - spec["target_level_db"])
    assert max(levels) <= 0.05  # only ever scaled down, never up
    assert np.median(levels) == pytest.approx(0.0, abs=0.05)


def test_same_spec_same_samples_and_same_bytes(smp, tmp_path):
    spec = smp.sample(11)
    a, b = Renderer().render(spec), Renderer().render(copy.deepcopy(spec))
    for name in ("mix", "ref", "pos", "neg", "pos_clean"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    write_audio(tmp_path / "a.flac", a.mix, SR, subtype="PCM_16")
    write_audio(tmp_path / "b.flac", b.mix, SR, subtype="PCM_16")
    assert (tmp_path / "a.flac").read_bytes() == (tmp_path / "b.flac").read_bytes()
    assert a.segments == b.segments


def _mask(segments, source, n):
    mask = np.zeros(n, dtype=bool)
    for name, start, end in segments:
        if name == source:
            mask[round(start * SR) : round(end * SR)] = True
    return mask


def test_segments_agree_with_each_source_image(smp):
    """Inside the listed spans a source has all its energy; outside, (almost) none."""
    checked = 0
    for i in range(40):
        spec = smp.sample(i)
        out = Renderer().render(spec)
        for rec in ("pos", "neg"):
            n = spec["lengths"][rec]
            for src in spec["sources"]:
                image = out.images[rec].get(src["name"])
                names = {s[0] for s in out.segments[rec]}
                if image is None:
                    assert src["name"] not in names
                    continue
                mask = _mask(out.segments[rec], src["name"], n)
                assert mask.any()
                energy = np.square(image[0], dtype=np.float64)
                assert energy[~mask].sum() <= 1e-3 * energy.sum()
                # and every listed span holds speech (no span over silence; short ones may sit in a fade)
                for name, start, end in out.segments[rec]:
                    if name == src["name"] and end - start >= 0.05:
                        a, b = round(start * SR), round(end * SR)
                        assert energy[a:b].mean() > 0.05 * energy[mask].mean()
                checked += 1
    assert checked > 80


def test_partial_interferer_talks_only_inside_its_window(smp):
    found = 0
    for i in range(60):
        spec = smp.sample(i)
        for src in spec["sources"]:
            if src["type"] in ("partial", "hybrid"):
                out = Renderer().render(spec)
                p = src["pos"]
                image = out.images["pos"][src["name"]][0]
                assert not image[: p["start"]].any() and not image[p["start"] + p["length"] :].any()
                found += 1
    assert found > 5


def test_trimming_removes_long_silences(corpus):
    pool = SpeechPool(corpus / "test", SR, max_pause_s=0.2, edge_s=0.05)
    for utt in list(pool.utts.values())[:6]:
        audio, _ = sf.read(utt.audio, dtype="float32")
        assert utt.length < len(audio)
        # pauses left between speech spans are at most max_pause, the edges at most edge
        gaps = [b[0] - a[1] for a, b in zip(utt.spans, utt.spans[1:])]
        assert gaps and all(g <= 0.2 * SR + 1 for g in gaps)
        assert utt.spans[0][0] <= 0.05 * SR + 1 and utt.length - utt.spans[-1][1] <= 0.05 * SR + 1
        # the kept audio holds all the speech energy
        kept = np.concatenate([audio[lo:hi] for lo, hi in utt.pieces])
        assert np.sum(kept**2) == pytest.approx(np.sum(audio**2), rel=1e-6)


def test_speaker_with_little_speech_is_filled_by_repetition(tmp_path):
    """One utterance of 0.6 s of speech fills a 3 s placement: its stream repeats."""
    data = tmp_path / "data"
    write_speech_dir(data, "test", speakers=4, utts=2)
    write_noise_dir(data, "noise_tt", files=1)
    smp = sampler(data, mix_seconds=3.0, pos_seconds=3.0, mix_speakers=[2], enroll_speakers=[2],
                  trim_max_pause_seconds=0.0, trim_edge_seconds=0.0, min_speaker_speech_seconds=0.5)
    spec = smp.sample(0)
    target = spec["sources"][0]
    pool = smp.speech
    stream = sum(pool.utts[u].length for u in target["pos"]["utts"])
    assert stream < target["pos"]["length"]  # the corpus is too short: repetition is needed
    out = Renderer().render(spec)
    active = _mask(out.segments["pos"], "target", spec["lengths"]["pos"]).mean()
    assert active > 0.9  # no silence kept: the repeated stream is speech nearly everywhere


def test_brir_convolution(smp, tmp_path):
    brir = np.zeros((2, 64), dtype=np.float32)
    brir[0, 0], brir[1, 10] = 1.0, 0.5  # left: identity; right: 10-sample delay, -6 dB
    write_audio(tmp_path / "brir.wav", brir, SR)
    spec = copy.deepcopy(smp.sample(3))
    spec["channels"] = 2
    for src in spec["sources"]:
        for rec in ("mix", "pos", "neg"):
            if src[rec]:
                src[rec]["brir"] = str(tmp_path / "brir.wav")
    out = Renderer().render(spec)
    assert out.mix.shape == (2, spec["lengths"]["mix"])
    left, right = out.ref
    np.testing.assert_allclose(right[10:], 0.5 * left[:-10], atol=1e-6)


def test_missing_and_corrupt_audio_name_the_file(corpus, tmp_path):
    data = tmp_path / "data"  # a corpus of its own: the shared one stays intact
    write_speech_dir(data, "test", speakers=6)
    shutil.copytree(corpus / "noise_tt", data / "noise_tt")
    smp = sampler(data)
    spec = smp.sample(0)
    victim = smp.speech.utts[spec["sources"][0]["mix"]["utts"][0]].audio
    moved = tmp_path / "moved.flac"
    shutil.move(victim, moved)
    with pytest.raises(AudioError, match=f"{victim}: audio file not found"):
        Renderer().render(spec)
    (tmp_path / "corrupt.flac").write_bytes(b"fLaC" + b"\x00" * 100)
    shutil.copy(tmp_path / "corrupt.flac", victim)
    with pytest.raises(AudioError, match=f"example 'test_x-000000': {victim}: unreadable or corrupt"):
        Renderer().render(spec)


def test_wrong_sample_rate_is_an_error(corpus, tmp_path):
    data = tmp_path / "data"
    write_speech_dir(data, "test", speakers=5)
    shutil.copytree(corpus / "noise_tt", data / "noise_tt")
    smp = sampler(data, sample_rate=16000)
    with pytest.raises(AudioError, match="sample rate 8000 Hz, the scenario needs 16000"):
        Renderer().render(smp.sample(0))


def test_empty_noise_folder_is_an_error(corpus, tmp_path):
    noise = tmp_path / "noise_tt"
    noise.mkdir()
    (noise / "wav.scp").write_text("")
    (noise / "utt2dur").write_text("")
    with pytest.raises(ValueError, match=r"noise_tt/wav.scp: empty"):
        sampler(corpus, noise=str(noise))


def test_bad_activity_line_names_file_and_line(corpus, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(corpus / "test", data / "test")
    lines = (data / "test" / "activity").read_text().splitlines()
    lines[2] = lines[2].split()[0] + " 1.0 0.5"
    (data / "test" / "activity").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"activity:3: spans must be increasing"):
        SpeechPool(data / "test", SR)


def test_spec_naming_an_unknown_utterance(smp):
    spec = copy.deepcopy(smp.sample(0))
    spec["sources"][1]["mix"]["utts"] = ["nobody-u9"]
    with pytest.raises(SpecError, match="'nobody-u9' is not a usable utterance"):
        Renderer().render(spec)


def test_preloaded_rendering_matches_reading_from_disk(smp):
    from_disk = Renderer(speech_pools=(smp.speech,), noise_pools=(smp.noise,))
    held = Renderer(speech_pools=(smp.speech,), noise_pools=(smp.noise,), preload_mb=64)
    assert from_disk.preloaded_mb == 0 and 0 < held.preloaded_mb < 64
    for i in range(8):
        spec = smp.sample(i)
        a, b = from_disk.render(spec), held.render(spec)
        for name in ("mix", "ref", "pos", "neg", "pos_clean"):
            assert np.array_equal(getattr(a, name), getattr(b, name))
        assert a.segments == b.segments
    tiny = Renderer(speech_pools=(smp.speech,), preload_mb=0.01)  # too small a budget: nothing held
    assert tiny.preloaded_mb == 0
