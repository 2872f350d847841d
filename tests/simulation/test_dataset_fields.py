"""Dataset fields of the speaker-aware systems: `spk` (training-speaker index) and `enroll_clean`."""
import numpy as np
import torch
from sim_corpus import SR, sampler

from tsepn.data.dataset import ScpDataset, SimulatedDataset, collate, training_speakers
from tsepn.data.render import Renderer
from tsepn.data.sets import make_wrong_enroll, render_set
from tsepn.fileio import read_table


def test_spk_is_the_sorted_training_speaker_index(corpus):
    smp = sampler(corpus, split="train", noise="noise_tr", seed=5)
    ds = SimulatedDataset.from_sampler(smp, num_examples=0)
    speakers = sorted(read_table(corpus / "train" / "spk2utt"))
    assert training_speakers(str(corpus)) == {s: i for i, s in enumerate(speakers)}
    for index in range(3):
        item = ds[index]
        assert item["spk"].dtype == torch.int64 and item["spk"].dim() == 0
        assert speakers[int(item["spk"])] == ds.spec(index)["target_speaker"]
    batch = collate([ds[0], ds[1]])
    assert batch["spk"].shape == (2,) and batch["enroll_clean"].shape == (2, 1, ds.spec(0)["lengths"]["pos"])


def test_enroll_clean_is_the_target_elsewhere_and_deterministic(corpus):
    smp = sampler(corpus, seed=5)
    spec = smp.sample(4)
    renderer = Renderer()
    clean = renderer.render_enroll_clean(spec)
    assert clean.shape == (1, spec["lengths"]["pos"]) and clean.dtype == np.float32
    assert np.array_equal(clean, Renderer().render_enroll_clean(spec))  # the spec decides everything
    assert np.sqrt(np.mean(clean ** 2)) > 0
    # different from the positive enrollment's clean target (other utterances or another offset)
    item = renderer.render(spec)
    assert not np.allclose(clean, item.pos_clean)


def test_rendered_sets_carry_both_fields(corpus, tmp_path):
    smp = sampler(corpus, seed=6)
    specs = [smp.sample(i) for i in range(4)]
    out = tmp_path / "test_y"
    render_set(specs, out, "flac", nj=1, progress=False)
    ds = ScpDataset(str(out))
    item = ds[0]
    spec = next(s for s in specs if s["id"] == item["key"])
    assert item["enroll_clean"].shape == (1, spec["lengths"]["pos"])
    assert np.allclose(item["enroll_clean"].numpy(), Renderer().render_enroll_clean(spec))
    # the data folder of the set is tmp_path, which has no train/spk2utt: not a training speaker
    assert int(item["spk"]) == -1
    # the wrong-enrollment control: the donor example's clean enrollment
    wrong = make_wrong_enroll(out, tmp_path / "test_y_wrong_enroll")
    donors = read_table(wrong / "enroll_from")
    witem = ScpDataset(str(wrong))[0]
    donor = next(s for s in specs if s["id"] == donors[witem["key"]])
    assert np.allclose(witem["enroll_clean"].numpy(), Renderer().render_enroll_clean(donor))
