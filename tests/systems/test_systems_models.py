"""Every system at a tiny size: the model interface, forward/backward, model files, and what
each model is meant to compute (ESPnet's TD-SpeakerBeam, the improved model's parts, the NMF rule)."""
import numpy as np
import pytest
import torch
from systems_helpers import SR, TINY, tone

from tsepn.models import build_model
from tsepn.models.base import check_model
from tsepn.models.checkpoint import load_model, save_model
from tsepn.models.early_fusion import CrossFrameAttention, EarlyFusionExtractor
from tsepn.train.stages import named_groups

TRAINABLE = ["usef_tfgridnet", "td_speakerbeam", "voicefilter", "teacher"]


def signals(batch=2, seconds=0.25, seed=0):
    gen = torch.Generator().manual_seed(seed)
    n = int(seconds * SR)
    return [0.1 * torch.randn(batch, 1, n, generator=gen) for _ in range(3)]  # mix, pos, neg


@pytest.mark.parametrize("name", sorted(TINY))
def test_interface_and_shapes(name):
    model = build_model(name, **TINY[name])
    check_model(model)
    named_groups(model)  # every parameter in exactly one group
    mix, pos, neg = signals()
    cond = model.encode(pos, neg)
    out, _ = model(mix, cond, model.init_state(2))
    assert out.shape == mix.shape and torch.isfinite(out).all()
    # an enrollment of another length and an odd mixture length
    cond = model.encode(pos[..., :3001], neg[..., :3001])
    out, _ = model(mix[..., :3333], cond, None)
    assert out.shape == (2, 1, 3333)


@pytest.mark.parametrize("name", TRAINABLE)
def test_forward_backward_reaches_every_group(name):
    torch.manual_seed(0)
    model = build_model(name, **TINY[name]).train()
    mix, pos, neg = signals()
    if hasattr(model, "train_outputs"):
        outputs = model.train_outputs({"mix": mix, "pos": pos, "neg": neg})
        loss = outputs["wave"].pow(2).mean() + outputs["speaker_logits"].logsumexp(-1).mean()
        assert outputs["speaker_logits"].shape == (2, TINY[name]["num_speakers"])
    else:
        out, _ = model(mix, model.encode(pos, neg))
        loss = (out - mix).pow(2).mean()
    loss.backward()
    for group, params in model.param_groups().items():
        grads = [p.grad for p in params if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), f"no gradient reaches group {group}"


def test_nmf_has_nothing_to_train():
    model = build_model("nmf", **TINY["nmf"])
    assert list(model.parameters()) == [] and model.param_groups() == {"main": []}
    mix, pos, neg = signals()
    with pytest.raises(ValueError, match="neg is required"):
        model.encode(pos, None)


@pytest.mark.parametrize("name", sorted(TINY))
def test_model_file_round_trip(name, tmp_path):
    torch.manual_seed(1)
    model = build_model(name, **TINY[name]).eval()
    save_model(tmp_path / "model.pt", model)
    again = load_model(tmp_path / "model.pt").eval()
    mix, pos, neg = signals(seed=3)
    with torch.no_grad():
        a, _ = model(mix, model.encode(pos, neg))
        b, _ = again(mix, again.encode(pos, neg))
    assert torch.equal(a, b)


def test_td_speakerbeam_is_espnets_extractor():
    """encode + forward compute what ESPnet's TDSpeakerBeamExtractor.forward computes on full lengths."""
    torch.manual_seed(2)
    model = build_model("td_speakerbeam", **TINY["td_speakerbeam"]).eval()
    stride, kernel = model.stride, model.kernel_size
    n = kernel + 40 * stride  # frames cover the signal exactly: no padding on either path
    mix, pos, _ = signals()
    mix, pos = mix[..., :n], pos[..., :n]
    with torch.no_grad():
        ours, _ = model(mix, model.encode(pos))
        lens = torch.full((2,), n)
        feats, flens = model.encoder(mix[:, 0], lens)
        aux, alens = model.encoder(pos[:, 0], lens)
        masked, _, others = model.extractor(feats, flens, aux, alens)
        theirs, _ = model.decoder(masked, lens)
    assert torch.allclose(ours[:, 0], theirs, atol=1e-6)
    assert torch.allclose(model.encode(pos), others["enroll_emb"], atol=1e-6)


def test_usef_tfgridnet_is_the_improved_models_mixture_side():
    """Same parts (not rewritten): with the improved model's mixture-side weights and the same
    enrollment sequence, the improved model's forward gives USEF-TFGridNet's output."""
    torch.manual_seed(3)
    usef = build_model("usef_tfgridnet", **TINY["usef_tfgridnet"]).eval()
    assert isinstance(usef, EarlyFusionExtractor) and isinstance(usef.att, CrossFrameAttention)
    args = {k: v for k, v in TINY["usef_tfgridnet"].items()}
    improved = build_model("improved", encoder_layers=1, head_layers=1, head_refine_layers=0, **args).eval()
    missing, unexpected = improved.load_state_dict(usef.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("siamese.", "encoder_head.")) for k in missing)
    mix, pos, _ = signals()
    with torch.no_grad():
        cond = usef.encode(pos)
        assert torch.equal(usef(mix, cond)[0], improved(mix, cond)[0])


def test_nmf_keeps_what_only_the_positive_enrollment_has():
    """Target and interferer at different pitches: the interferer alone in the negative enrollment,
    both in the positive: the output holds the target and little of the interferer."""
    rng = np.random.default_rng(0)
    n = SR // 2
    target, interferer = tone(rng, 220.0, n), tone(rng, 550.0, n)
    enroll_target, enroll_interferer = tone(rng, 220.0, n), tone(rng, 550.0, n)
    as_batch = lambda x: torch.tensor(0.1 * x, dtype=torch.float32)[None, None]  # noqa: E731
    model = build_model("nmf", n_fft=512, hop=128, pos_bases=4, neg_bases=4, iterations=100)
    cond = model.encode(as_batch(enroll_target + enroll_interferer), as_batch(enroll_interferer))
    out, _ = model(as_batch(target + interferer), cond)
    out = out[0, 0].numpy().astype(np.float64)
    t, i = 0.1 * target, 0.1 * interferer
    # least-squares share of each source in the output
    coef = np.linalg.lstsq(np.stack([t, i], axis=1), out, rcond=None)[0]
    assert coef[0] > 0.7 and abs(coef[1]) < 0.2, coef


def test_voicefilter_dvector_is_unit_norm_and_frozen_speaker_builds_no_graph():
    model = build_model("voicefilter", **TINY["voicefilter"])
    mix, pos, _ = signals()
    dvec = model.encode(pos)
    assert torch.allclose(dvec.norm(dim=-1), torch.ones(2), atol=1e-5)
    for p in model.dvector.parameters():
        p.requires_grad_(False)
    assert not model.encode(pos).requires_grad
    with pytest.raises(ValueError, match="d-vector"):
        model(mix, dvec[:, None])
