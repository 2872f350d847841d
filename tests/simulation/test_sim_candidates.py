"""Candidate references in the scenario specs (reference selection): off by default (specs as before),
seeded, the target's own other recordings, rendered deterministically at the configured length."""
import json

import numpy as np
import pytest
import torch
from sim_corpus import SR, sampler

from tsepn.data.dataset import ScpDataset, SimulatedDataset, collate
from tsepn.data.render import Renderer
from tsepn.data.scenario import SpecError, check_spec, spec_line
from tsepn.data.sets import render_set
from tsepn.fileio import read_table

CANDIDATES = dict(candidate_count=3, candidate_seconds=0.5, candidate_snr_db=[0.0, 20.0])


def test_default_specs_have_no_candidates_and_the_list_changes_nothing_else(corpus):
    plain, with_list = sampler(corpus, seed=11), sampler(corpus, seed=11, **CANDIDATES)
    for index in range(6):
        spec = plain.sample(index)
        assert "candidates" not in spec
        other = with_list.sample(index)
        assert len(other.pop("candidates")) == 3
        assert spec_line(other) == spec_line(spec)  # every other draw is the same, byte for byte


def test_candidates_are_seeded_and_the_targets_other_utterances(corpus):
    utt2spk = read_table(corpus / "test" / "utt2spk")
    smp = sampler(corpus, seed=12, **CANDIDATES)
    for index in range(8):
        spec = smp.sample(index)
        check_spec(spec)
        assert spec["candidates"] == sampler(corpus, seed=12, **CANDIDATES).sample(index)["candidates"]
        target = spec["sources"][0]
        for cand in spec["candidates"]:
            assert {utt2spk[u] for u in cand["utts"]} == {spec["target_speaker"]}  # the target's own
            assert not set(cand["utts"]) & set(target["mix"]["utts"])  # never the mixture's utterances
            assert cand["length"] == round(0.5 * SR) and 0.0 <= cand["snr_db"] <= 20.0
    assert sampler(corpus, seed=13, **CANDIDATES).sample(0)["candidates"] != smp.sample(0)["candidates"]


def test_candidates_render_deterministically_at_their_length(corpus):
    spec = sampler(corpus, seed=14, **CANDIDATES).sample(2)
    cands = Renderer().render_candidates(spec)
    assert cands.shape == (3, 1, round(0.5 * SR)) and cands.dtype == np.float32
    assert np.array_equal(cands, Renderer().render_candidates(spec))  # the spec decides everything
    assert all(np.sqrt(np.mean(c ** 2)) > 0 for c in cands) and np.max(np.abs(cands)) <= 0.9 + 1e-6
    assert Renderer().render_candidates(sampler(corpus, seed=14).sample(2)).shape[0] == 0


def test_a_malformed_candidate_is_named(corpus):
    spec = sampler(corpus, seed=15, **CANDIDATES).sample(0)
    spec["candidates"][1].pop("snr_db")
    with pytest.raises(SpecError, match=r"candidates\[1\]: missing key\(s\) \['snr_db'\]"):
        check_spec(spec)


def test_datasets_carry_the_candidates(corpus, tmp_path):
    smp = sampler(corpus, split="train", noise="noise_tr", seed=16, **CANDIDATES)
    item = SimulatedDataset.from_sampler(smp, num_examples=2)[0]
    assert item["candidates"].shape == (3, 1, round(0.5 * SR))
    specs = [sampler(corpus, seed=17, **CANDIDATES).sample(i) for i in range(2)]
    out = tmp_path / "test_c"
    render_set(specs, out, "flac", nj=1, progress=False)
    ds = ScpDataset(str(out))
    spec = {s["id"]: s for s in map(json.loads, (out / "scenarios.jsonl").read_text().splitlines())}[ds.keys[0]]
    assert np.allclose(ds[0]["candidates"].numpy(), Renderer().render_candidates(spec))
    assert collate([ds[0], ds[1]])["candidates"].shape == (2, 3, 1, round(0.5 * SR))
    plain = tmp_path / "test_p"
    render_set([sampler(corpus, seed=17).sample(0)], plain, "flac", nj=1, progress=False)
    assert "candidates" not in ScpDataset(str(plain))[0]



def _files(set_dir):
    """relative path -> bytes of every file of a rendered set but its marker (it records the config)."""
    return {str(p.relative_to(set_dir)): p.read_bytes() for p in sorted(set_dir.rglob("*"))
            if p.is_file() and p.name != ".done"}


def test_a_candidate_set_beside_a_test_set_leaves_it_byte_identical(corpus, tmp_path):
    """conf/simulate.yaml's test_*_cand sets: the same seed and scenario plus candidate_count. Adding one
    keeps the existing set as it was (skipped on a re-run, its bytes unchanged), and its mixtures and
    enrollments are the set's own, byte for byte, under other example ids."""
    import shutil

    import yaml

    from tsepn.bin import simulate_sets

    data = tmp_path / "data"
    for name in ("test", "noise_tt"):
        shutil.copytree(corpus / name, data / name)
    base = {"audio_format": "flac", "scenario": {"sample_rate": SR, "mix_seconds": 1.5, "pos_seconds": 1.0,
                                                   "neg_seconds": 1.0, "min_speaker_speech_seconds": 0.5},
            "sets": [{"name": "test_m2e2", "speech": "test", "noise": "noise_tt", "seed": 9, "num_examples": 4,
                      "wrong_enroll": True, "scenario": {"mix_speakers": [2], "enroll_speakers": [2]}}]}
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(base))
    simulate_sets.main(["--config", str(plain), "--data-dir", str(data)])
    before = {name: _files(data / name) for name in ("test_m2e2", "test_m2e2_wrong_enroll")}
    marker = (data / "test_m2e2" / ".done").read_bytes()
    cand = dict(base["sets"][0], name="test_m2e2_cand",
                scenario=dict(base["sets"][0]["scenario"], candidate_count=2, candidate_seconds=0.5))
    both = tmp_path / "both.yaml"
    both.write_text(yaml.safe_dump(dict(base, sets=base["sets"] + [cand])))
    simulate_sets.main(["--config", str(both), "--data-dir", str(data)])
    assert (data / "test_m2e2" / ".done").read_bytes() == marker  # skipped: the set's config is unchanged
    assert {name: _files(data / name) for name in before} == before
    specs = {s["id"]: s for s in map(json.loads, (data / "test_m2e2_cand" / "scenarios.jsonl").read_text().splitlines())}
    assert all(len(s["candidates"]) == 2 for s in specs.values())
    for name in ("mix", "ref", "pos", "neg", "pos_clean"):
        own, other = read_table(data / "test_m2e2" / f"{name}.scp"), read_table(data / "test_m2e2_cand" / f"{name}.scp")
        assert len(own) == len(other) == 4
        for key, path in own.items():
            twin = other[key.replace("test_m2e2-", "test_m2e2_cand-")]
            assert open(path, "rb").read() == open(twin, "rb").read(), (name, key)
    # the control's candidates are the donor's (the enrollment's target), as its enrollments are
    control = ScpDataset(str(data / "test_m2e2_cand_wrong_enroll"))
    donors = read_table(data / "test_m2e2_cand_wrong_enroll" / "enroll_from")
    item = control[0]
    assert np.array_equal(item["candidates"].numpy(), Renderer().render_candidates(specs[donors[item["key"]]]))


def test_stage7_decodes_reference_selection_on_the_sets_rendered_candidates(corpus, tmp_path):
    """tsepn.bin.decode gives a `rendered_candidates` refsel model the spec's candidates (a control:
    the donor's); a set without candidate lists leaves it the windows of pos."""
    from tsepn.audio import read_audio
    from tsepn.bin import decode
    from tsepn.data.sets import make_wrong_enroll
    from tsepn.models import build_model
    from tsepn.models.checkpoint import save_model

    torch.manual_seed(0)
    model = build_model("refsel", windows=[8, 32, 64], filters=8, tcn_channels=8, tcn_hidden=8, stacks=1, blocks=1,
                        resnet_channels=8, embedding_dim=8, num_candidates=2, candidate_seconds=0.25,
                        selector_hidden=4, selection="best", rendered_candidates=True, sample_rate=SR).eval()
    save_model(tmp_path / "model.pt", model)
    smp = sampler(corpus, seed=18, **CANDIDATES)
    with_list = render_set([smp.sample(i) for i in range(3)], tmp_path / "test_c", "flac", nj=1, progress=False)
    control = make_wrong_enroll(with_list, tmp_path / "test_c_wrong_enroll")
    without = render_set([sampler(corpus, seed=18).sample(i) for i in range(2)], tmp_path / "test_p", "flac",
                         nj=1, progress=False)
    for set_dir in (with_list, control, without):
        out = tmp_path / f"decode_{set_dir.name}"
        assert decode.main(["--checkpoint", str(tmp_path / "model.pt"), "--set-dir", str(set_dir),
                            "--out-dir", str(out)]) == 0
        data = ScpDataset(str(set_dir))
        for i, key in enumerate(data.keys):
            item = data[i]
            assert ("candidates" in item) == (set_dir != without)
            rendered = item["candidates"][None] if "candidates" in item else None
            with torch.no_grad():
                want = model(item["mix"][None], {"candidates": model.candidate_embeddings(item["pos"][None], rendered)})[0]
            got = read_audio(read_table(out / "est.scp")[key])[0]
            np.testing.assert_allclose(got, want[0].numpy(), atol=1e-5)
