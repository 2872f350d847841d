"""BRIR preparation: SOFA and wav sets in their published layouts, validation naming the
bad file, split rules, directions and the facing response."""
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from brir_helpers import SR, gcc_itd_samples
from tsepn.data.brir import (ASH_SPLIT, CATT_SPLIT, BrirError, BrirScenes, ash_split, catt_split, prepare_brirs,
                             read_sofa_scene, read_wav_scene, scan_set, tail_split, wrap_azimuth)
from tsepn.data.mini_brir import HEAD_RADIUS, SPEED_OF_SOUND, MiniBrirConfig, synth_response


def test_sofa_scene_is_resampled_with_directions(brir_root):
    path = brir_root / "CIPIC" / "subject_003.sofa"
    ir, az, el = read_sofa_scene(path)
    cfg = MiniBrirConfig()
    assert ir.dtype == np.float32 and ir.shape[:2] == (len(cfg.cipic_azimuths) * len(cfg.cipic_elevations), 2)
    assert ir.shape[2] == pytest.approx(200 * SR / 44100, abs=1)  # 200 taps at 44.1 kHz -> 16 kHz
    assert np.all((az > -180) & (az <= 180))  # stored 0..360 in the file, wrapped here
    assert sorted(set(np.round(az, 6))) == sorted(cfg.cipic_azimuths)
    scenes = scan_set(brir_root, "cipic")
    assert [s.name for s in scenes] == [f"cipic_subject_{n:03d}" for n in cfg.cipic_subjects]
    face = scenes[0].face
    assert scenes[0].azimuth[face] == 0 and scenes[0].elevation[face] == 0


def test_rrbrir_sofa_rooms(brir_root):
    scenes = scan_set(brir_root, "rrbrir")
    assert [s.split for s in scenes] == ["train", "dev", "test"]  # rooms A, B, C: tail rule
    assert scenes[0].responses.shape[1:] == (2, round(MiniBrirConfig().seconds * SR))


def test_malformed_sofa_names_the_file(tmp_path, brir_root):
    import sofar

    garbage = tmp_path / "CIPIC" / "subject_001.sofa"
    garbage.parent.mkdir()
    garbage.write_bytes(b"CDF but not really a netCDF file")
    with pytest.raises(BrirError, match=r"subject_001\.sofa: not a readable SOFA file"):
        read_sofa_scene(garbage)
    with pytest.raises(BrirError, match=r"subject_001\.sofa"):  # through the set scanner too
        scan_set(tmp_path, "cipic")

    three = tmp_path / "three.sofa"  # a valid SOFA file, but 3 receivers: not a BRIR
    sofa = sofar.Sofa("GeneralFIR")
    sofa.Data_IR = np.zeros((2, 3, 32))
    sofa.Data_IR[:, :, 0] = 1
    sofa.Data_SamplingRate = 16000.0
    sofa.Data_Delay = np.zeros((1, 3))
    sofa.SourcePosition = np.array([[0.0, 0, 1], [90.0, 0, 1]])
    sofa.ReceiverPosition = np.zeros((3, 3))
    sofar.write_sofa(str(three), sofa)
    with pytest.raises(BrirError, match=r"three\.sofa: malformed SOFA: 3 receiver\(s\)"):
        read_sofa_scene(three)


def _copy_set(brir_root, tmp_path, folder):
    shutil.copytree(brir_root / folder, tmp_path / folder)
    return tmp_path


def test_catt_response_at_the_wrong_rate_names_the_file(brir_root, tmp_path):
    root = _copy_set(brir_root, tmp_path, "CATT_RIRs")
    bad = root / "CATT_RIRs" / "Binaural" / "16k" / "0_3s" / "CATT_0_3s_30.wav"
    data, _ = sf.read(bad)
    sf.write(bad, data, 44100, subtype="FLOAT")
    with pytest.raises(BrirError, match=r"CATT_0_3s_30\.wav: sample rate 44100 Hz, the CATT 16k set must be 16000"):
        scan_set(root, "catt")


def test_wav_scene_with_mixed_rates_or_channels_names_the_file(brir_root, tmp_path):
    root = _copy_set(brir_root, tmp_path, "ASH-Listening-Set-8.0")
    room = root / "ASH-Listening-Set-8.0" / "BRIRs" / "R03"
    files = sorted(room.glob("*.wav"))
    data, _ = sf.read(files[1])
    sf.write(files[1], data, 48000, subtype="FLOAT")  # the room's others are at 44.1 kHz
    with pytest.raises(BrirError, match=rf"{files[1].name}: sample rate 48000 Hz, the other responses"):
        read_wav_scene(files, "ash")
    sf.write(files[1], data[:, 0], 44100, subtype="FLOAT")
    with pytest.raises(BrirError, match=rf"{files[1].name}: 1 channel\(s\), a BRIR needs 2"):
        read_wav_scene(files, "ash")
    nameless = room / "BRIR_R03_something.wav"
    sf.write(nameless, data, 44100, subtype="FLOAT")
    with pytest.raises(BrirError, match=r"BRIR_R03_something\.wav: no azimuth in the file name"):
        read_wav_scene([nameless], "ash")


def test_split_rules():
    names = [f"subject_{k:03d}" for k in range(45)]
    split = tail_split(names)
    counts = {s: sum(v == s for v in split.values()) for s in ("train", "dev", "test")}
    assert counts == {"train": 37, "dev": 4, "test": 4}
    assert split["subject_044"] == "test" and split["subject_040"] == "dev" and split["subject_000"] == "train"
    assert list(tail_split(["A", "B", "C", "D", "X"]).values()) == ["train", "train", "train", "dev", "test"]
    assert set(tail_split(["A", "B"]).values()) == {"train"}  # too few to hold one out
    assert ash_split("R01") == "test" and ash_split("R30") == "dev" and ash_split("R06") == "train"
    assert ash_split("R05") is None  # unused by the authors
    assert catt_split("0_4s") == "test" and catt_split("0_9s") == "dev" and catt_split("1_0s") == "train"
    assert catt_split("2_0s") is None
    assert not set(ASH_SPLIT["test"]) & set(ASH_SPLIT["dev"])
    assert sum(len(v) for v in CATT_SPLIT.values()) == 11  # 0_0s .. 1_0s


def test_prepared_lists(brir_lists):
    loaded = {split: BrirScenes.load(folder) for split, folder in brir_lists.items()}
    scenes = {split: set(b.responses) for split, b in loaded.items()}
    assert not scenes["train"] & scenes["dev"] and not scenes["train"] & scenes["test"]
    assert not scenes["dev"] & scenes["test"]
    for split, b in loaded.items():
        assert sorted(b.by_set) == ["ash", "catt", "cipic", "rrbrir"], split  # every set in every split
        for scene, rid in b.face.items():
            e = b.entry(scene, rid)
            assert (e.azimuth, e.elevation) == (0.0, 0.0)
    assert "ash_R01" in scenes["test"] and "catt_0_3s" in scenes["dev"] and "cipic_subject_011" in scenes["test"]
    info = json.loads((brir_lists["train"] / "info.json").read_text())
    assert info["sample_rate"] == 16000 and "ash" in info["split_rules"]
    # prepared responses are read back as stored
    rid = loaded["test"].face["ash_R01"]
    path, index = loaded["test"].entry("ash_R01", rid).spec.rsplit(":", 1)
    assert np.load(path)[int(index)].shape[0] == 2


def test_shared_hrtf_sets_use_every_subject_everywhere(brir_root, tmp_path):
    made = prepare_brirs(brir_root, tmp_path / "brir", sets=["cipic"], shared_hrtf_sets=True)
    assert all(len(BrirScenes.load(d).by_set["cipic"]) == len(MiniBrirConfig().cipic_subjects) for d in made.values())


def test_spherical_head_itd_and_ild_follow_the_direction():
    rng = np.random.default_rng(0)
    left = synth_response(rng, 90.0, 0.0, 48000, 512)  # SOFA: +90 degrees = the left
    right = synth_response(rng, -90.0, 0.0, 48000, 512)
    front = synth_response(rng, 0.0, 0.0, 48000, 512)
    woodworth = HEAD_RADIUS / SPEED_OF_SOUND * (np.pi / 2 + 1)  # ~0.66 ms
    assert gcc_itd_samples(left, 64) / 48000 == pytest.approx(-woodworth, abs=2 / 48000)  # left ear first
    assert gcc_itd_samples(right, 64) / 48000 == pytest.approx(woodworth, abs=2 / 48000)
    assert gcc_itd_samples(front, 64) == 0
    energy = lambda x: 10 * np.log10(np.sum(x[0] ** 2) / np.sum(x[1] ** 2))  # noqa: E731
    assert energy(left) > 3 and energy(right) < -3 and abs(energy(front)) < 1e-6
    # head shadow is frequency dependent: the far ear loses more at high than at low frequencies
    spectrum = np.abs(np.fft.rfft(left, 4096, axis=-1))
    freqs = np.fft.rfftfreq(4096, 1 / 48000)
    ild = 20 * np.log10(spectrum[0] / spectrum[1])
    assert ild[np.argmin(abs(freqs - 6000))] > ild[np.argmin(abs(freqs - 200))] + 6
    assert wrap_azimuth([180, 190, -180, 360]).tolist() == [180, -170, 180, 0]


def test_ash_real_file_names_listener_variants_and_true_stereo(brir_root, tmp_path):
    """ASH-Listening-Set's own names: BRIR_<room>_<variant>_E0_A<az>.wav for two listener variants
    per room (C1, P1) and a non-directional BRIR_<room>_<variant>_True_Stereo.wav."""
    src = sorted((brir_root / "ASH-Listening-Set-8.0" / "BRIRs" / "R01").glob("*.wav"))
    room = tmp_path / "ASH-Listening-Set-8.0" / "BRIRs" / "R01"
    room.mkdir(parents=True)
    for variant in ("C1", "P1"):
        for path in src:
            azimuth = path.name.rsplit("_A", 1)[1]
            shutil.copy(path, room / f"BRIR_R01_{variant}_E0_A{azimuth}")
        shutil.copy(src[0], room / f"BRIR_R01_{variant}_True_Stereo.wav")
    scenes = scan_set(tmp_path, "ash")
    assert [s.name for s in scenes] == ["ash_R01_C1", "ash_R01_P1"]
    for scene in scenes:
        assert scene.split == "test" and len(scene.labels) == len(src)  # True_Stereo left out
        assert all(f"_{scene.name[-2:]}_" in label for label in scene.labels)
        assert scene.labels[scene.face].endswith("_E0_A0.wav")
