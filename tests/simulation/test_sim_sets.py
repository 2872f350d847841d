"""Rendered sets on disk, wrong-enrollment controls, stage-3 entry point, datasets."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from sim_corpus import SR, sampler

from tsepn.data import sets as sets_mod
from tsepn.data.dataset import ScpDataset, SimulatedDataset, collate
from tsepn.data.scenario import read_specs, spec_line
from tsepn.data.sets import SetError, is_done, make_wrong_enroll, render_scenarios_file, render_set, wrong_enroll_donors
from tsepn.fileio import iter_table, read_table

SIGNALS = ("mix", "ref", "pos", "neg", "pos_clean")


@pytest.fixture(scope="module")
def specs(corpus):
    smp = sampler(corpus, seed=3)
    return [smp.sample(i) for i in range(12)]


@pytest.fixture(scope="module")
def rendered(specs, tmp_path_factory):
    out = tmp_path_factory.mktemp("sets") / "test_x"
    render_set(specs, out, "flac", nj=1, progress=False)
    return out


def test_set_directory_layout(rendered, specs):
    ids = [s["id"] for s in specs]
    for name in SIGNALS:
        table = read_table(rendered / f"{name}.scp")
        assert sorted(table) == sorted(ids)
        assert all(Path(v).is_file() and v.startswith(str(rendered)) for v in table.values())
    assert read_table(rendered / "utt2spk") == {s["id"]: s["target_speaker"] for s in specs}
    assert read_table(rendered / "utt2cond") == {s["id"]: s["condition"] for s in specs}
    assert [s["id"] for s in read_specs(rendered / "scenarios.jsonl")] == ids
    assert is_done(rendered)
    rows = list(iter_table(rendered / "pos_segments", 4, 4))
    assert {f[0] for _, f in rows} == set(ids) and all(float(f[2]) < float(f[3]) for _, f in rows)
    assert not list(rendered.parent.glob(".test_x*"))  # no temporary left behind


def test_rendered_files_hold_the_rendered_signals(rendered, specs):
    import soundfile as sf

    from tsepn.data.render import Renderer

    out = Renderer().render(specs[4])
    mix, sr = sf.read(read_table(rendered / "mix.scp")[specs[4]["id"]], dtype="float32")
    assert sr == SR
    np.testing.assert_allclose(mix, out.mix[0], atol=1.0 / 32767)


def test_same_specs_same_bytes_whatever_nj(rendered, specs, tmp_path):
    again = tmp_path / "test_x"
    render_set(specs, again, "flac", nj=2, progress=False)
    for path in sorted(rendered.rglob("*")):
        if path.is_file() and path.name != ".done":
            twin = again / path.relative_to(rendered)
            text = path.read_bytes().replace(str(rendered).encode(), b"")
            assert twin.read_bytes().replace(str(again).encode(), b"") == text, path.name


def test_ark_format(specs, tmp_path):
    out = render_set(specs[:5], tmp_path / "ark_set", "ark", progress=False)
    ds = ScpDataset(str(out))
    flac = render_set(specs[:5], tmp_path / "flac_set", "flac", progress=False)
    ref = ScpDataset(str(flac))
    assert all(":" in v and ".ark:" in v for v in read_table(out / "mix.scp").values())
    for i in range(5):
        a, b = ds[i], ref[i]
        assert a["key"] == b["key"]
        for name in SIGNALS:
            torch.testing.assert_close(a[name], b[name], atol=2.0 / 32768, rtol=0)


def test_interrupted_render_leaves_nothing_under_the_final_name(specs, tmp_path, monkeypatch):
    out = tmp_path / "test_y"
    calls = {"n": 0}
    real = sets_mod._render_chunk

    def crash_on_second(task):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(sets_mod, "_render_chunk", crash_on_second)
    many = specs * 3  # 36 examples: two chunks
    many = [dict(s, id=f"{s['id']}-{k}") for k, s in enumerate(many)]
    with pytest.raises(KeyboardInterrupt):
        render_set(many, out, "flac", progress=False)
    assert not out.exists()
    assert (tmp_path / ".test_y.tmp").exists()  # the partial work sits under the temporary name
    monkeypatch.setattr(sets_mod, "_render_chunk", real)
    render_set(many, out, "flac", progress=False)  # the re-run replaces the leftovers
    assert is_done(out) and len(read_table(out / "mix.scp")) == 36
    assert not (tmp_path / ".test_y.tmp").exists()


def test_render_scenarios_file_checks_lines_first(specs, tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(spec_line(specs[0]) + "[1, 2]\n")
    with pytest.raises(ValueError, match=r"s.jsonl:2: a spec must be a JSON object"):
        render_scenarios_file(path, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_wrong_enrollment_donors():
    assert wrong_enroll_donors(["a", "b", "c", "d"], ["s1", "s1", "s2", "s1"]) == [2, 2, 3, 2]
    with pytest.raises(SetError, match="no wrong enrollment"):
        wrong_enroll_donors(["a", "b"], ["s1", "s1"])


def test_wrong_enrollment_set(rendered, tmp_path):
    wrong = make_wrong_enroll(rendered, tmp_path / "test_x_wrong_enroll")
    spk = read_table(wrong / "utt2spk")
    enroll_spk = read_table(wrong / "utt2enrollspk")
    donor = read_table(wrong / "enroll_from")
    src = {name: read_table(rendered / f"{name}.scp") for name in SIGNALS}
    assert spk == read_table(rendered / "utt2spk")
    for key in spk:
        assert enroll_spk[key] != spk[key]
        assert enroll_spk[key] == spk[donor[key]]
        assert read_table(wrong / "mix.scp")[key] == src["mix"][key]
        assert read_table(wrong / "ref.scp")[key] == src["ref"][key]
        for name in ("pos", "neg", "pos_clean"):
            assert read_table(wrong / f"{name}.scp")[key] == src[name][donor[key]]
    seg = [f for _, f in iter_table(wrong / "pos_segments", 4, 4)]
    own = [f for _, f in iter_table(rendered / "pos_segments", 4, 4)]
    key = sorted(spk)[0]
    assert [f[1:] for f in seg if f[0] == key] == [f[1:] for f in own if f[0] == donor[key]]
    ds = ScpDataset(str(wrong))
    assert len(ds) == len(spk)


def _write_config(path, fmt="flac"):
    path.write_text(
        f"""
audio_format: {fmt}
scenario: {{sample_rate: {SR}, mix_seconds: 1.0, pos_seconds: 1.0, neg_seconds: 1.0,
           min_speaker_speech_seconds: 0.5}}
train: {{name: train, speech: train, noise: noise_tr, seed: 1}}
sets:
  - {{name: dev_m2e2, speech: dev, noise: noise_cv, seed: 2, num_examples: 4,
     scenario: {{mix_speakers: [2], enroll_speakers: [2]}}}}
  - {{name: test_m3e3, speech: test, noise: noise_tt, seed: 3, num_examples: 6, wrong_enroll: true,
     scenario: {{mix_seconds: 1.5, mix_speakers: [3], enroll_speakers: [3]}}}}
"""
    )
    return path


def test_simulate_sets_entry_point_and_skip(corpus, tmp_path, caplog):
    from tsepn.bin import simulate_sets

    data = tmp_path / "data"
    for name in ("train", "dev", "test", "noise_tr", "noise_cv", "noise_tt"):
        shutil.copytree(corpus / name, data / name)
    conf = _write_config(tmp_path / "simulate.yaml")
    simulate_sets.main(["--config", str(conf), "--data-dir", str(data)])
    for name, count in (("dev_m2e2", 4), ("test_m3e3", 6), ("test_m3e3_wrong_enroll", 6)):
        assert is_done(data / name) and len(read_table(data / name / "mix.scp")) == count
    assert set(read_table(data / "test_m3e3" / "utt2cond").values()) == {"m3e3"}
    stamp = (data / "dev_m2e2" / ".done").stat().st_mtime_ns
    caplog.set_level("INFO")
    simulate_sets.main(["--config", str(conf), "--data-dir", str(data)])
    assert "complete, skipped" in caplog.text
    assert (data / "dev_m2e2" / ".done").stat().st_mtime_ns == stamp
    # a changed config rebuilds the set it changes
    simulate_sets.main(["--config", str(conf), "--data-dir", str(data), "--override", "scenario.snr_db=[0,0]"])
    assert (data / "dev_m2e2" / ".done").stat().st_mtime_ns != stamp
    assert {s["snr_db"] for s in read_specs(data / "dev_m2e2" / "scenarios.jsonl")} == {0.0}


def test_make_and_render_scenarios_clis(corpus, tmp_path):
    from tsepn.bin import make_scenarios, render_scenarios

    conf = _write_config(tmp_path / "simulate.yaml", fmt="ark")
    jsonl = tmp_path / "dev.jsonl"
    make_scenarios.main(["--config", str(conf), "--data-dir", str(corpus), "--set", "dev_m2e2", "--out", str(jsonl),
                         "--num-examples", "3"])
    assert len(jsonl.read_text().splitlines()) == 3
    render_scenarios.main(["--scenarios", str(jsonl), "--out-dir", str(tmp_path / "dev"), "--config", str(conf)])
    assert all(".ark:" in v for v in read_table(tmp_path / "dev" / "pos.scp").values())
    assert json.loads((tmp_path / "dev" / ".done").read_text())["audio_format"] == "ark"


def test_scp_dataset_items(rendered, specs):
    ds = ScpDataset(str(rendered))
    assert len(ds) == len(specs)
    item = ds[0]
    assert set(item) == set(SIGNALS) | {"key", "spk", "enroll_clean"}
    assert item["key"] == sorted(s["id"] for s in specs)[0]
    spec = next(s for s in specs if s["id"] == item["key"])
    for name, rec in (("mix", "mix"), ("ref", "mix"), ("pos", "pos"), ("neg", "neg"), ("pos_clean", "pos")):
        assert item[name].dtype == torch.float32 and item[name].shape == (1, spec["lengths"][rec])
    batch = collate([ds[0], ds[1]])
    assert batch["mix"].shape == (2, 1, spec["lengths"]["mix"]) and len(batch["key"]) == 2


def test_scp_dataset_key_mismatch_names_the_file(rendered, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(rendered, broken)
    lines = (broken / "neg.scp").read_text().splitlines()
    (broken / "neg.scp").write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(ValueError, match=r"neg.scp: keys differ"):
        ScpDataset(str(broken))


def test_simulated_dataset_items_and_epochs(corpus, tmp_path):
    conf = _write_config(tmp_path / "simulate.yaml")
    ds = SimulatedDataset(str(conf), data_dir=str(corpus), set_name="train")
    assert len(ds) == len(ds.sampler.targets)  # one example per training speaker
    item = ds[2]
    assert set(item) == set(SIGNALS) | {"key", "spk", "enroll_clean"}
    assert all(item[n].dtype == torch.float32 and item[n].ndim == 2 for n in SIGNALS)
    assert item["mix"].shape == (1, SR) and item["pos"].shape == (1, SR)
    assert ds.spec(2)["target_speaker"] == ds.sampler.targets[2]
    again = ds[2]
    assert torch.equal(item["mix"], again["mix"])  # same epoch, same example
    ds.set_epoch(1)
    assert not torch.equal(ds[2]["mix"], item["mix"])  # dynamic mixing: new epoch, new scene
    fixed = SimulatedDataset(str(conf), data_dir=str(corpus), set_name="train", num_examples=5)
    assert len(fixed) == 5
    loader = torch.utils.data.DataLoader(fixed, batch_size=2, collate_fn=collate, num_workers=0)
    batch = next(iter(loader))
    assert batch["neg"].shape == (2, 1, SR)
    with pytest.raises(IndexError):
        fixed[5]


def test_simulated_dataset_same_items_whatever_the_workers(corpus, tmp_path):
    conf = _write_config(tmp_path / "simulate.yaml")
    ds = SimulatedDataset(str(conf), data_dir=str(corpus), set_name="train", num_examples=4)
    ds.set_epoch(3)
    inline = [ds[i] for i in range(4)]
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2, collate_fn=collate)
    for item, batch in zip(inline, loader):
        assert batch["key"] == [item["key"]]
        for name in SIGNALS:
            assert torch.equal(batch[name][0], item[name])


def test_cli_reports_bad_input_without_traceback(corpus, tmp_path, caplog):
    from tsepn.bin import simulate_sets

    conf = _write_config(tmp_path / "simulate.yaml")
    with pytest.raises(SystemExit) as exit_info:
        simulate_sets.main(["--config", str(conf), "--data-dir", str(tmp_path / "nowhere")])
    assert exit_info.value.code == 1
    assert "nowhere/dev: speech data directory not found" in caplog.text
