"""Losses against closed-form values, invariances, eps safety and the config builder."""
import math

import pytest
import torch

from tsepn.losses import LOSSES, build_loss, si_sdr, snr


def orthogonal_pair(n=1000, seed=0):
    """A reference and an error signal orthogonal to it (and both zero-mean)."""
    g = torch.Generator().manual_seed(seed)
    ref = torch.randn(n, generator=g, dtype=torch.float64)
    ref -= ref.mean()
    err = torch.randn(n, generator=g, dtype=torch.float64)
    err -= err.mean()
    err -= (err @ ref) / (ref @ ref) * ref
    return ref.float(), err.float()


def test_snr_of_known_noisy_and_scaled_estimates():
    ref, err = orthogonal_pair()
    err = err * (ref.norm() / err.norm()) * 10 ** (-12 / 20)  # error 12 dB below the reference
    assert snr(ref + err, ref).item() == pytest.approx(12.0, abs=1e-3)
    # est = 0.5 ref: error energy is a quarter of the reference energy -> 6.02 dB
    assert snr(0.5 * ref, ref).item() == pytest.approx(10 * math.log10(4), abs=1e-4)
    assert LOSSES.build("snr")(0.5 * ref[None, None], ref[None, None]).item() == pytest.approx(-10 * math.log10(4), abs=1e-4)


def test_si_sdr_closed_form_and_scale_invariance():
    ref, err = orthogonal_pair(seed=1)
    err = err * (ref.norm() / err.norm()) * 10 ** (-7 / 20)
    est = ref + err
    assert si_sdr(est, ref).item() == pytest.approx(7.0, abs=1e-3)
    for scale in (0.01, 3.0, -2.0):
        assert si_sdr(scale * est, ref).item() == pytest.approx(7.0, abs=1e-3)  # sign too
    neg_si_snr = LOSSES.build("si_snr")
    assert neg_si_snr(5.0 * est, ref).item() == pytest.approx(neg_si_snr(est, ref).item(), abs=1e-4)
    # SNR is not scale invariant
    assert snr(5.0 * est, ref).item() < 0 < snr(est, ref).item()


def test_zero_mean_matters_only_where_asked():
    ref, err = orthogonal_pair(seed=2)
    est = ref + 0.1 * err
    offset = est + 0.5  # a DC offset in the estimate
    si_snr = LOSSES.build("si_snr")
    assert si_snr(offset, ref).item() == pytest.approx(si_snr(est, ref).item(), abs=1e-4)
    plain = LOSSES.build("si_sdr", zero_mean=False)
    assert plain(offset, ref).item() > plain(est, ref).item() + 1.0  # the offset counts as distortion


def test_batched_mean_over_examples_and_channels():
    g = torch.Generator().manual_seed(3)
    ref = torch.randn(3, 2, 400, generator=g)
    est = ref + 0.3 * torch.randn(3, 2, 400, generator=g)
    per_signal = torch.stack([snr(est[b, c], ref[b, c]) for b in range(3) for c in range(2)])
    assert LOSSES.build("snr")(est, ref).item() == pytest.approx(-per_signal.mean().item(), abs=1e-4)
    assert snr(est, ref).shape == (3, 2)


@pytest.mark.parametrize("name", ["snr", "si_snr", "si_sdr"])
def test_silence_is_finite_with_finite_gradients(name):
    est = torch.zeros(2, 1, 100, requires_grad=True)
    ref = torch.zeros(2, 1, 100)
    loss = LOSSES.build(name)(est, ref)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(est.grad).all()
    perfect = torch.randn(2, 1, 100)
    assert torch.isfinite(LOSSES.build(name)(perfect, perfect))


def test_mse_and_weighted_combination():
    a, b = torch.ones(2, 3, 4), torch.zeros(2, 3, 4)
    assert LOSSES.build("mse")(a, b).item() == 1.0
    wiggle = torch.tensor([[1.0, -1.0, 3.0, -3.0]])  # zero mean over the last axis
    assert LOSSES.build("mse", mean_dims=[1])(wiggle, torch.zeros_like(wiggle)).item() == 0.0
    assert LOSSES.build("mse")(wiggle, torch.zeros_like(wiggle)).item() == 5.0
    ref, err = orthogonal_pair(seed=4)
    est = (ref + 0.2 * err)[None, None]
    ref = ref[None, None]
    loss = build_loss([{"name": "snr", "weight": 10.0}, {"name": "si_sdr", "weight": 0.5, "args": {"zero_mean": False}}])
    total, parts = loss(est, ref)
    assert set(parts) == {"snr", "si_sdr"}
    assert total.item() == pytest.approx(10 * parts["snr"].item() + 0.5 * parts["si_sdr"].item(), rel=1e-6)
    assert parts["snr"].item() == pytest.approx(-snr(est, ref).item(), rel=1e-6)


def test_speaker_nmse_scores_only_what_tells_examples_apart():
    common = torch.full((1, 2, 1, 3), 5.0)  # shared by every example: plain MSE's bulk
    speaker = torch.tensor([1.0, -1.0, 2.0, -2.0]).view(4, 1, 1, 1).expand(4, 2, 1, 3)
    ref = (common + speaker).expand(4, 2, 6, 3)  # [B, C, T, F], constant over time
    loss = LOSSES.build("speaker_nmse")
    assert loss(ref, ref).item() == 0.0
    # the batch mean (no speaker information) scores 1, whatever the common part
    assert loss(ref.mean(0, keepdim=True).expand_as(ref), ref).item() == pytest.approx(1.0)
    assert loss(torch.zeros_like(ref), ref).item() == pytest.approx(1.0)
    # a common offset costs nothing; half the speaker part left over: (0.5)^2
    assert loss(common.expand_as(ref) + 3.0 + 0.5 * speaker.expand_as(ref), ref).item() == pytest.approx(0.25)
    # only the time average counts (mean_dims=[2] by default)
    wiggle = torch.randn(4, 2, 6, 3)
    wiggle = wiggle - wiggle.mean(2, keepdim=True)
    assert loss(ref + wiggle, ref).item() == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError, match="at least 2 examples"):
        loss(ref[:1], ref[:1])


def test_shape_mismatch_and_bad_specs_are_clear_errors():
    with pytest.raises(ValueError, match="estimate shape"):
        LOSSES.build("snr")(torch.zeros(1, 1, 10), torch.zeros(1, 1, 11))
    with pytest.raises(ValueError, match=r"loss\[0\].*unknown loss 'snrr'; known: cross_entropy, embedding_consistency, l1, mse, pitch_miss_rate, si_sdr, "
                                         r"si_snr, snr, speaker_nmse"):
        build_loss([{"name": "snrr"}])
    with pytest.raises(ValueError, match=r"loss\[1\]: unknown key\(s\) wieght"):
        build_loss([{"name": "snr"}, {"name": "mse", "wieght": 1}])
    with pytest.raises(ValueError, match=r"loss\[0\]"):
        build_loss([{"name": "mse", "args": {"zero_mean": True}}])
    with pytest.raises(ValueError, match=r"loss\[0\]\.target: must be a name"):
        build_loss([{"name": "mse", "target": 3}])


def test_cross_entropy_against_closed_form_and_ignored_examples():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [5.0, -5.0, 1.0]])
    target = torch.tensor([0, 2, -1])  # the third example is not a training speaker
    ce = LOSSES.build("cross_entropy")
    first = -math.log(math.exp(2) / (math.exp(2) + 2))
    second = math.log(3)
    assert ce(logits, target).item() == pytest.approx((first + second) / 2, rel=1e-6)
    none = torch.full((3,), -1)
    leaf = logits.clone().requires_grad_(True)
    value = ce(leaf, none)
    value.backward()
    assert value.item() == 0.0 and torch.all(leaf.grad == 0)
    with pytest.raises(ValueError, match="integer class indices"):
        ce(logits, target.float())
    with pytest.raises(ValueError, match=r"logits \[B, K, ...\] and targets"):
        ce(logits, target[:2])


def test_l1_with_and_without_the_unvoiced_mask():
    pitch = torch.tensor([[0.0, 100.0, 200.0, 0.0]])
    est = torch.tensor([[50.0, 110.0, 180.0, 30.0]])
    assert LOSSES.build("l1")(est, pitch).item() == pytest.approx((50 + 10 + 20 + 30) / 4)
    masked = LOSSES.build("l1", mask_zero_target=True)
    assert masked(est, pitch).item() == pytest.approx((10 + 20) / 2)  # unvoiced frames do not count
    assert masked(est, torch.zeros_like(pitch)).item() == 0.0
    with pytest.raises(ValueError, match="estimate shape"):
        masked(est[:, :3], pitch)


def test_embedding_consistency_is_one_minus_cosine():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    b = torch.tensor([[3.0, 0.0], [-1.0, -1.0], [1.0, 0.0]])
    loss = LOSSES.build("embedding_consistency")
    assert loss(a, b).item() == pytest.approx((0.0 + 2.0 + 1.0) / 3, abs=1e-6)
    assert loss(a, 5 * a).item() == pytest.approx(0.0, abs=1e-6)  # scale does not matter
    seq = torch.randn(2, 4, 7)  # [B, D, T]: cosine over D, mean over B and T
    assert loss(seq, seq).item() == pytest.approx(0.0, abs=1e-6)


def test_terms_on_named_outputs_and_targets():
    g = torch.Generator().manual_seed(5)
    outputs = {"wave": torch.randn(2, 1, 50, generator=g), "speaker_logits": torch.randn(2, 3, generator=g),
               "emb": torch.randn(2, 4, generator=g)}
    batch = {"ref": torch.randn(2, 1, 50, generator=g), "spk": torch.tensor([1, 2]), "key": ["a", "b"]}
    loss = build_loss([{"name": "si_sdr"},
                       {"name": "cross_entropy", "weight": 0.5, "output": "speaker_logits", "target": "spk"},
                       {"name": "embedding_consistency", "weight": 2.0, "output": "emb", "target": "emb"},
                       {"name": "si_sdr", "output": "wave", "target": "wave"}])
    assert [(t.output, t.target) for t in loss.terms] == [("wave", "ref"), ("speaker_logits", "spk"),
                                                          ("emb", "emb"), ("wave", "wave")]
    total, parts = loss.evaluate(outputs, batch)
    assert list(parts) == ["si_sdr", "cross_entropy", "embedding_consistency", "si_sdr_wave"]
    assert parts["si_sdr"].item() == pytest.approx(-si_sdr(outputs["wave"], batch["ref"]).mean().item())
    assert parts["cross_entropy"].item() == pytest.approx(
        torch.nn.functional.cross_entropy(outputs["speaker_logits"], batch["spk"]).item())
    assert parts["embedding_consistency"].item() == pytest.approx(0.0, abs=1e-6)  # a target may be an output
    expected = parts["si_sdr"] + 0.5 * parts["cross_entropy"] + 2.0 * parts["embedding_consistency"] + parts["si_sdr_wave"]
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
