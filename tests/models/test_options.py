"""Option grid: every size / fusion / layout option builds, runs forward and backward on tiny inputs."""
from __future__ import annotations

import pytest
import torch

from tests.models.conftest import ENROLL_SAMPLES, MIX_SAMPLES, seeded_audio, tiny_args
from tsepn.models import build_model
from tsepn.models.fusion import FUSIONS

def forward_backward(model, channels: int):
    model.train()
    pos = seeded_audio(2, channels, ENROLL_SAMPLES, seed=1)
    neg = seeded_audio(2, channels, ENROLL_SAMPLES, seed=2)
    mix = seeded_audio(2, channels, MIX_SAMPLES, seed=3)
    cond = model.encode(pos, neg)
    state, outs = None, []
    for piece in mix.split(160, dim=-1):  # streaming with the state carried (gradients flow across chunks)
        out, state = model(piece, cond, state)
        outs.append(out)
    out = torch.cat(outs, dim=-1)
    assert out.shape == (2, channels, MIX_SAMPLES)
    out.pow(2).mean().backward()
    for name, param in model.named_parameters():  # every parameter: DistributedDataParallel needs that
        assert param.grad is not None, f"no gradient reaches {name}"
        assert torch.isfinite(param.grad).all(), name
    return out


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("fusion", ["cross_attention", "film", "concat", "add"])
def test_fusions_and_channels(channels, fusion):
    args = tiny_args(channels=channels, fusion=fusion)
    if fusion != "cross_attention":
        args["fusion_args"] = {}
    forward_backward(build_model("posneg", **args), channels)


@pytest.mark.parametrize("layers,n_layers", [([0], 2), ([1], 2), ([0, 2], 3)])
def test_fusion_layers(layers, n_layers):
    model = build_model("posneg", **tiny_args(fusion_layers=layers, n_layers=n_layers))
    fused = [i for i, f in enumerate(model.fusions) if not isinstance(f, torch.nn.Identity)]
    assert fused == layers
    forward_backward(model, 1)


@pytest.mark.parametrize("size,stride", [(4, 4), (8, 2), (1, 1)])
def test_pooling(size, stride):
    model = build_model("posneg", **tiny_args(fusion_args=dict(n_heads=2, approx_qk_dim=32, pooling_size=size,
                                                                pooling_stride=stride)))
    with torch.no_grad():
        cond = model.encode(seeded_audio(1, 1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES, seed=1))
    frames = ENROLL_SAMPLES // 16 + 1
    keys, values = cond.fusion[0]
    assert keys.shape[2] == values.shape[2] == (frames - size) // stride + 1
    forward_backward(model, 1)


@pytest.mark.parametrize("normalization", ["per_call", "enrollment", "none"])
@pytest.mark.parametrize("framing", ["upstream", "streaming"])
def test_normalization_and_framing(normalization, framing):
    forward_backward(build_model("posneg", **tiny_args(normalization=normalization, framing=framing)), 1)


def test_teacher_forward_backward():
    forward_backward(build_model("teacher", **{k: v for k, v in tiny_args().items() if not k.startswith("head_")}), 1)


def test_per_call_normalisation_is_scale_equivariant():
    model = build_model("posneg", **tiny_args()).eval()
    pos, neg, mix = seeded_audio(1, 1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES, seed=1), seeded_audio(1, 1, MIX_SAMPLES, seed=2)
    with torch.no_grad():
        out, _ = model(mix, model.encode(pos, neg))
        louder, _ = model(3 * mix, model.encode(5 * pos, 0.5 * neg))
    torch.testing.assert_close(louder, 3 * out, rtol=1e-4, atol=1e-5)


def test_short_enrollment_for_pooling_is_a_clear_error():
    model = build_model("posneg", **tiny_args(fusion_args=dict(n_heads=2, approx_qk_dim=32, pooling_size=64,
                                                                pooling_stride=64)))
    with pytest.raises(ValueError, match="pooling window"):
        model.encode(seeded_audio(1, 1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES))


@pytest.mark.parametrize("bad,match", [
    (dict(normalization="rms"), "normalization"), (dict(framing="overlap"), "framing"),
    (dict(fusion_layers=[5]), "fusion_layers"), (dict(fusion="gated"), "unknown fusion"),
    (dict(fusion_args=dict(pooling=3)), "fusion 'cross_attention'"), (dict(channels=3), "channel"),
])
def test_bad_options_are_named(bad, match):
    with pytest.raises((ValueError, KeyError, TypeError), match=match):
        build_model("posneg", **tiny_args(**bad))


def test_wrong_input_shapes_are_named():
    model = build_model("posneg", **tiny_args()).eval()
    with torch.no_grad():
        cond = model.encode(seeded_audio(1, 1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES))
        with pytest.raises(ValueError, match="mix must be"):
            model(seeded_audio(1, 2, MIX_SAMPLES), cond)
        with pytest.raises(ValueError, match="positive enrollment"):
            model.encode(seeded_audio(1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES))
        with pytest.raises(ValueError, match="batch"):
            model(seeded_audio(2, 1, MIX_SAMPLES), cond)
        with pytest.raises(TypeError, match="Conditioning"):
            model(seeded_audio(1, 1, MIX_SAMPLES), cond.embedding)


def test_fusion_registry_names():
    assert {"cross_attention", "film", "concat", "add"} <= set(FUSIONS)


def test_inference_cache_follows_weight_updates():
    """Regrouped weights cached for inference must be rebuilt after an optimizer step or a load."""
    model = build_model("posneg", **tiny_args())
    pos, neg, mix = seeded_audio(1, 1, ENROLL_SAMPLES), seeded_audio(1, 1, ENROLL_SAMPLES, seed=1), seeded_audio(1, 1, MIX_SAMPLES, seed=2)
    with torch.inference_mode():
        before, _ = model(mix, model.encode(pos, neg))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    out, _ = model(mix, model.encode(pos, neg))
    out.pow(2).mean().backward()
    optimizer.step()
    fresh = build_model("posneg", **tiny_args())
    fresh.load_state_dict(model.state_dict())
    with torch.inference_mode():
        after, _ = model(mix, model.encode(pos, neg))
        expected, _ = fresh(mix, fresh.encode(pos, neg))
    assert (after - before).abs().max() > 1e-4
    torch.testing.assert_close(after, expected, rtol=0, atol=1e-6)
