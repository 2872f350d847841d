"""Binaural scenes: sampling (one scene, set weights, the 0-degree rule, distinct directions),
FFT convolution (length, alignment), the reference choice, and deterministic rendering."""
import copy
import filecmp

import numpy as np
import pytest

from brir_helpers import SR, gcc_itd_samples
from tsepn.audio import write_audio
from tsepn.config import ConfigError
from tsepn.data.brir import BrirScenes, ResponseCache, direct_path, fft_convolve
from tsepn.data.render import Renderer
from tsepn.data.scenario import RECORDINGS, ScenarioConf, ScenarioSampler, check_spec, spec_line
from tsepn.data.sets import render_set


def conf(**kw) -> ScenarioConf:
    base = dict(sample_rate=SR, channels=2, mix_seconds=2.0, pos_seconds=2.0, neg_seconds=2.0,
                mix_speakers=[2, 3], enroll_speakers=[2, 3])
    return ScenarioConf(**{**base, **kw})


def sampler(data, brir_lists, split="test", **kw) -> ScenarioSampler:
    brir = brir_lists[split] if brir_lists is not None else None
    return ScenarioSampler.from_dirs(conf(**kw), data / "test", data / "noise_tt", 11, "bin", brir)


def test_fft_convolution_length_and_alignment():
    rng = np.random.default_rng(0)
    dry = rng.standard_normal(1000).astype(np.float32)
    delta = np.zeros((2, 64), np.float32)
    delta[:, 0] = 1
    out = fft_convolve(dry, delta, 1000)
    assert out.shape == (2, 1000) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.stack([dry, dry]), atol=1e-5)  # a unit impulse returns the dry signal
    shifted = np.zeros((2, 64), np.float32)
    shifted[0, 3], shifted[1, 10] = 1, 0.5  # left 3 samples late, right 10 samples late at half gain
    out = fft_convolve(dry, shifted, 1200)
    assert out.shape == (2, 1200)
    np.testing.assert_allclose(out[0, 3:1003], dry, atol=1e-5)
    np.testing.assert_allclose(out[1, 10:1010], 0.5 * dry, atol=1e-5)
    assert np.all(np.abs(out[0, :3]) < 1e-5) and np.all(np.abs(out[:, 1063:]) < 1e-5)


def test_direct_path_keeps_the_head_and_drops_the_tail():
    brir = np.zeros((2, 1600), np.float32)
    brir[0, 20], brir[1, 24], brir[:, 800] = 1.0, 0.7, 0.3
    direct = direct_path(brir, SR, window_ms=2.5)
    assert direct[0, 20] == 1.0 and direct[1, 24] == pytest.approx(0.7) and np.all(direct[:, 200:] == 0)


def test_binaural_specs(speech_data, brir_lists):
    smp = sampler(speech_data, brir_lists)
    scenes = BrirScenes.load(brir_lists["test"])
    seen_sets = set()
    for i in range(40):
        spec = smp.sample(i)
        check_spec(spec)
        scene = spec["binaural"]["scene"]
        seen_sets.add(spec["binaural"]["set"])
        by_spec = {e.spec: e for e in scenes.responses[scene]}  # every response comes from the one scene
        face = scenes.entry(scene, scenes.face[scene])
        for rec in RECORDINGS:
            directions = []
            for k, source in enumerate(spec["sources"]):
                if source[rec] is None:
                    continue
                entry = by_spec[source[rec]["brir"]]
                directions.append((entry.azimuth, entry.elevation))
                if rec == "pos" and k == 0:
                    assert entry == face and (entry.azimuth, entry.elevation) == (0.0, 0.0)
            assert len(set(directions)) == len(directions), (spec["id"], rec)  # sources at other directions
    assert seen_sets == {"cipic", "rrbrir", "ash", "catt"}


def test_set_weights_and_dry_enrollments(speech_data, brir_lists):
    only_ash = sampler(speech_data, brir_lists, brir_weights={"ash": 1.0, "catt": 0.0})
    assert {only_ash.sample(i)["binaural"]["set"] for i in range(15)} == {"ash"}
    dry = sampler(speech_data, brir_lists, reverb_enrollments=False)
    spec = dry.sample(3)
    assert all(s[rec] is None or s[rec]["brir"] is None for s in spec["sources"] for rec in ("pos", "neg"))
    assert spec["sources"][0]["mix"]["brir"] is not None
    out = Renderer().render(spec)
    np.testing.assert_array_equal(out.pos_clean[0], out.pos_clean[1])  # dry: both ears alike


def test_binaural_spec_keeps_the_monaural_draws(speech_data, brir_lists):
    mono = ScenarioSampler.from_dirs(conf(channels=1), speech_data / "test", speech_data / "noise_tt", 11, "bin")
    spec = sampler(speech_data, brir_lists).sample(4)
    stripped = copy.deepcopy(spec)
    del stripped["binaural"]
    stripped["channels"] = 1
    for source in stripped["sources"]:
        for rec in RECORDINGS:
            if source[rec] is not None:
                source[rec]["brir"] = None
    assert stripped == mono.sample(4)


def test_binaural_config_errors(speech_data, brir_lists):
    from tsepn.data.scenario import check_scenario

    with pytest.raises(ConfigError, match="channels 2"):
        sampler(speech_data, brir_lists, channels=1)
    with pytest.raises(ConfigError, match="binaural_reference"):
        check_scenario(conf(binaural_reference="early"), "test")
    with pytest.raises(ConfigError, match=r"unknown BRIR set\(s\) \['kemar'\]"):
        check_scenario(conf(brir_weights={"kemar": 1.0}), "test")
    with pytest.raises(ConfigError, match="positive sum"):
        check_scenario(conf(brir_weights={"ash": 0.0, "catt": 0.0}), "test")


def test_zero_degree_rule_target_itd_in_positive_enrollment(speech_data, brir_lists):
    smp = sampler(speech_data, brir_lists)
    renderer = Renderer()
    lateral = 0
    for i in range(12):
        out = renderer.render(smp.sample(i))
        assert out.pos.shape == (2, 2 * SR) and out.mix.shape == (2, 2 * SR)
        assert abs(gcc_itd_samples(out.pos_clean)) <= 1, i  # facing: no interaural delay
        lateral += abs(gcc_itd_samples(out.ref)) >= 3  # the mixture's target is anywhere
    assert lateral >= 3


def test_delta_brir_renders_the_dry_image(speech_data, brir_lists, tmp_path):
    delta = np.zeros((2, 256), np.float32)
    delta[:, 0] = 1.0
    write_audio(tmp_path / "delta.wav", delta, SR, subtype="FLOAT")
    spec = sampler(speech_data, brir_lists).sample(2)
    dry = copy.deepcopy(spec)
    for source in dry["sources"]:
        for rec in RECORDINGS:
            if source[rec] is not None:
                source[rec]["brir"] = None
    convolved = copy.deepcopy(dry)
    for source in convolved["sources"]:
        for rec in RECORDINGS:
            if source[rec] is not None:
                source[rec]["brir"] = str(tmp_path / "delta.wav")
    a, b = Renderer().render(dry), Renderer().render(convolved)
    for name in ("mix", "ref", "pos", "neg", "pos_clean"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-5)


def test_reference_choice(speech_data, brir_lists):
    reverberant = sampler(speech_data, brir_lists, brir_weights={"catt": 1.0})
    direct = sampler(speech_data, brir_lists, brir_weights={"catt": 1.0}, binaural_reference="direct")
    spec_r, spec_d = reverberant.sample(1), direct.sample(1)
    assert spec_d["binaural"]["reference"] == "direct"
    out_r, out_d = Renderer().render(spec_r), Renderer().render(spec_d)
    np.testing.assert_array_equal(out_r.mix, out_d.mix)  # the same scene and mixture
    assert not np.allclose(out_r.ref, out_d.ref)
    # the direct reference is the target through the direct sound of its response only
    cache = ResponseCache()
    placement = spec_d["sources"][0]["mix"]
    full, head = cache.get(placement["brir"], SR), cache.direct(placement["brir"], SR, 2.5)
    assert np.count_nonzero(head[0]) < np.count_nonzero(full[0]) / 10
    assert np.sum(out_d.ref**2) < np.sum(out_r.ref**2)  # reverberation removed


def test_binaural_rendering_is_deterministic(speech_data, brir_lists, tmp_path):
    smp = sampler(speech_data, brir_lists)
    specs = [smp.sample(i) for i in range(6)]
    assert [spec_line(s) for s in specs] == [spec_line(smp.sample(i)) for i in range(6)]
    a, b = Renderer().render(specs[0]), Renderer().render(copy.deepcopy(specs[0]))
    for name in ("mix", "ref", "pos", "neg", "pos_clean"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    render_set(specs, tmp_path / "one", progress=False)
    render_set(specs, tmp_path / "two", nj=2, progress=False)
    for table in ("mix.scp", "scenarios.jsonl", "pos_segments"):
        assert (tmp_path / "one" / table).read_text().replace("/one/", "/X/") == \
            (tmp_path / "two" / table).read_text().replace("/two/", "/X/")
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.flac"))
    assert files and all(filecmp.cmp(tmp_path / "one" / f, tmp_path / "two" / f, shallow=False) for f in files)
