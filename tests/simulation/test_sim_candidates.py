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

