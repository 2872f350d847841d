"""The improved (early-fusion) model: authors' parameter layout, call pattern, pieces vs references."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from tsepn.models import MODELS, build_model
from tsepn.models.checkpoint import load_model, save_model
from tsepn.models.early_fusion import CrossFrameAttention, EarlyFusionTSE, RefinedEncoderHead

TINY = dict(n_fft=32, hop=16, emb_dim=8, lstm_hidden=8, n_heads=2, approx_qk_dim=34, n_layers=2,
            encoder_layers=1, head_layers=2, head_refine_layers=1)


def key_lines(model) -> list:
    return [f"{name} {'x'.join(map(str, t.shape))} {str(t.dtype).removeprefix('torch.')}"
            for name, t in model.state_dict().items()]


def perturbed(model, seed=0, scale=0.05):
    """Non-trivial weights (norm gains != 1, biases != 0), as in the authors' fixtures."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)
    return model.eval()


def test_parameter_names_shapes_dtypes_match_the_authors(upstream_dir):
    path = upstream_dir / "improved-monaural.keys.txt"
    assert path.is_file(), f"{path} missing: it pins the authors' improved-monaural layout"
    expected = [line for line in path.read_text().split("\n") if line.strip()]
    assert len(expected) == 562
    assert key_lines(build_model("improved-monaural")) == expected


def test_registered_names():
    assert "improved" in MODELS and "improved-monaural" in MODELS
    assert isinstance(build_model("improved", **TINY), EarlyFusionTSE)


def test_authors_state_dict_loads_with_arch(tmp_path):
    source = perturbed(build_model("improved-monaural"))
    torch.save({"state_dict": source.state_dict()}, tmp_path / "improved.pt")
    loaded = load_model(tmp_path / "improved.pt", arch="improved-monaural")
    for (name, a), b in zip(source.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_forward_backward_tiny():
    torch.manual_seed(0)
    model = build_model("improved", **TINY)
    pos, neg, mix = torch.randn(2, 1, 800), torch.randn(2, 1, 640), torch.randn(2, 1, 1000)
    cond = model.encode(pos, neg)
    assert cond.embedding.shape == (2, 8, 800 // 16 + 1, 17)
    torch.testing.assert_close(model.embed(pos, neg), cond.embedding)
    assert model.init_state(2) is None
    out, state = model(mix, cond, model.init_state(2))
    assert out.shape == mix.shape and state is None and torch.isfinite(out).all()
    out.square().mean().backward()
    for name, p in model.named_parameters():  # every parameter (the encoder's unused decoder is buffers)
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_param_groups_partition_the_parameters():
    model = build_model("improved", **TINY)
    groups = model.param_groups()
    ids = [id(p) for g in groups.values() for p in g]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].startswith("siamese.") for p in groups["encoder"])
    assert all(names[id(p)].startswith("encoder_head.") for p in groups["head"])
    assert all(names[id(p)].split(".")[0] in {"att", "conv", "deconv", "dual_mdl"} for p in groups["main"])


def test_chunked_calls_are_independent_whole_signal_calls():
    """Non-streaming: a chunk's output depends on that chunk only (its own std, its own frames)."""
    model = perturbed(build_model("improved", **TINY))
    torch.manual_seed(1)
    pos, neg, mix = torch.randn(1, 1, 640), torch.randn(1, 1, 640), torch.randn(1, 1, 960)
    with torch.inference_mode():
        cond = model.encode(pos, neg)
        first, state = model(mix[..., :640], cond, model.init_state(1))
        second, _ = model(mix[..., 640:], cond, state)
        alone, _ = model(mix[..., 640:] * 3.0, cond)  # scale-equivariant: per-call std
        whole, _ = model(mix, cond)
    torch.testing.assert_close(alone, second * 3.0, rtol=1e-4, atol=1e-5)
    assert first.shape[-1] + second.shape[-1] == whole.shape[-1]
    assert not torch.allclose(torch.cat([first, second], -1), whole, atol=1e-3)


def test_tiny_and_silent_chunks_are_finite():
    model = perturbed(build_model("improved", **TINY))
    cond = model.encode(torch.randn(1, 1, 320), torch.randn(1, 1, 320))
    with torch.inference_mode():
        for length in (1, 5, 16, 17, 33):
            out, _ = model(torch.randn(1, 1, length), cond)
            assert out.shape == (1, 1, length) and torch.isfinite(out).all()
        silent, _ = model(torch.zeros(1, 1, 400), cond)
        x = torch.randn(1, 1, 300)
        assert torch.equal(model(x, cond)[0], model(x, cond.embedding)[0])  # the bare embedding works too
    assert torch.isfinite(silent).all() and silent.abs().max() < 1e-6


def test_binaural_two_channels_in_and_out():
    model = build_model("improved", channels=2, **TINY).eval()
    assert model.conv[0].in_channels == 4 and model.deconv.out_channels == 4
    with torch.inference_mode():
        cond = model.encode(torch.randn(1, 2, 480), torch.randn(1, 2, 480))
        out, _ = model(torch.randn(1, 2, 500), cond)
    assert out.shape == (1, 2, 500) and torch.isfinite(out).all()


def test_wrong_input_shapes_are_clear_errors():
    model = build_model("improved", **TINY)
    with pytest.raises(ValueError, match=r"positive enrollment must be \[batch, 1, samples\]"):
        model.encode(torch.randn(1, 2, 320), torch.randn(1, 1, 320))
    cond = model.encode(torch.randn(1, 1, 320), torch.randn(1, 1, 320))
    with pytest.raises(ValueError, match=r"mix must be \[batch, 1, samples\]"):
        model(torch.randn(1, 2, 320), cond)
    with pytest.raises(ValueError, match="cond embedding must be"):
        model(torch.randn(1, 1, 320), cond.embedding[:, :4])


def test_save_load_round_trip(tmp_path):
    model = perturbed(build_model("improved", **TINY))
    save_model(tmp_path / "m.pt", model)
    again = load_model(tmp_path / "m.pt").eval()
    pos, neg, mix = torch.randn(1, 1, 320), torch.randn(1, 1, 320), torch.randn(1, 1, 400)
    with torch.inference_mode():
        a, _ = model(mix, model.encode(pos, neg))
        b, _ = again(mix, again.encode(pos, neg))
    assert torch.equal(a, b)


# ------------------------------------------------------------------ pieces against plain references


def naive_cross_attention(att: CrossFrameAttention, query, context):
    """Head by head, straight from the definition: frames are tokens of (channels x freqs)."""
    def project(conv, norm, x):
        y = conv(x)  # [B, H*D, T, F]
        b, _, t, f = y.shape
        y = y.view(b, norm.H, norm.E, t, f)
        outs = []
        for h in range(norm.H):
            z = torch.nn.functional.prelu(y[:, h], norm.act.weight[h : h + 1])  # [B, D, T, F]
            mu = z.mean(dim=(1, 3), keepdim=True)
            var = z.var(dim=(1, 3), unbiased=False, keepdim=True)
            outs.append((z - mu) / torch.sqrt(var + norm.eps) * norm.gamma[:, h] + norm.beta[:, h])
        return outs

    qs = project(att.attn_conv_Q, att.attn_norm_Q, query)
    ks = project(att.attn_conv_K, att.attn_norm_K, context)
    vs = project(att.attn_conv_V, att.attn_norm_V, context)
    heads = []
    for q, k, v in zip(qs, ks, vs):
        qt = q.permute(0, 2, 1, 3).flatten(2)  # [B, T, D*F]
        kt = k.permute(0, 2, 1, 3).flatten(2)
        vt = v.permute(0, 2, 1, 3).flatten(2)
        w = torch.softmax(qt @ kt.transpose(1, 2) / math.sqrt(qt.shape[-1]), dim=-1)
        o = (w @ vt).view(q.shape[0], q.shape[2], v.shape[1], v.shape[3]).permute(0, 2, 1, 3)
        heads.append(o)
    return att.attn_concat_proj(torch.cat(heads, dim=1))


def test_cross_attention_matches_a_per_head_reference():
    att = perturbed(CrossFrameAttention(emb_dim=8, n_freqs=9, n_head=2, approx_qk_dim=30))
    assert att.qk_dim == 4 and att.v_dim == 4
    query, context = torch.randn(2, 8, 7, 9), torch.randn(2, 8, 5, 9)
    with torch.inference_mode():
        torch.testing.assert_close(att(query, context), naive_cross_attention(att, query, context),
                                   rtol=1e-4, atol=1e-5)


def test_refined_head_matches_espnet_blocks_run_on_the_full_sequence():
    """Reference: every attention block residual over pos+neg, cut, then ESPnet's own GridNetBlock.forward."""
    head = perturbed(RefinedEncoderHead(emb_dim=8, n_freqs=9, n_layers=2, n_heads=2, approx_qk_dim=34,
                                        refine_layers=2, lstm_hidden=6))
    pos, neg = torch.randn(2, 6, 9, 8), torch.randn(2, 4, 9, 8)  # channels-last
    with torch.inference_mode():
        got = head(pos, neg)
        seg = head.segment_embedding.weight.view(2, 8, 9)  # [segment, C, F]
        x = torch.cat([pos.permute(0, 3, 1, 2) + seg[0][:, None], neg.permute(0, 3, 1, 2) + seg[1][:, None]], dim=2)
        for layer in head.model:
            x = x + layer(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x = x[:, :, :6]
        for block in head.pending_module:
            espnet_block = copy.deepcopy(block)
            espnet_block.intra_rnn.batch_first = espnet_block.inter_rnn.batch_first = True
            x = espnet_block(x)
    torch.testing.assert_close(got.permute(0, 3, 1, 2), x, rtol=1e-4, atol=1e-5)


def test_forward_never_touches_the_enrollment_side(monkeypatch):
    """Encode once per utterance: the chunks reuse `cond`, the encoder and head stay idle."""
    model = build_model("improved", **TINY).eval()
    with torch.inference_mode():
        cond = model.encode(torch.randn(1, 1, 320), torch.randn(1, 1, 320))

        def boom(*args, **kwargs):
            raise AssertionError("the enrollment side ran during forward")

        monkeypatch.setattr(model.siamese, "features", boom)
        monkeypatch.setattr(model.siamese, "forward", boom)
        monkeypatch.setattr(model.encoder_head, "forward", boom)
        state = model.init_state(1)
        for chunk in torch.randn(1, 1, 900).split(300, dim=-1):
            out, state = model(chunk, cond, state)
            assert out.shape == chunk.shape


def test_forward_follows_the_authors_order_of_operations():
    """Pins the glue around the blocks, written out step by step in the authors' layout (Tar_Model):
    std over (channels, samples) unbiased; torch.stft (Hann, centred, reflect); [re, im] on channels,
    [B, 2, T, F]; conv; cat[mix feats, att(mix feats, cond)]; dual_mdl; deconv; istft; times std."""
    model = perturbed(build_model("improved", **TINY))
    torch.manual_seed(3)
    pos, neg, mix = torch.randn(1, 1, 480), torch.randn(1, 1, 400), torch.randn(1, 1, 640) * 0.3
    with torch.inference_mode():
        emb = model.embed(pos, neg)
        std = mix.std(dim=(1, 2), keepdim=True)
        spec = torch.stft((mix / std).reshape(-1, 640), 32, 16, 32, window=torch.hann_window(32), return_complex=True)
        spec = spec.reshape(1, -1, *spec.shape[-2:])
        x = model.conv(torch.cat([spec.real, spec.imag], dim=1).permute(0, 1, 3, 2).contiguous())
        x = torch.cat([x, model.att(x, emb)], dim=1)
        for block in model.dual_mdl:
            x = block(x)
        x = model.deconv(x)
        re, im = x[:, 0].permute(0, 2, 1).contiguous(), x[:, 1].permute(0, 2, 1).contiguous()
        expected = torch.istft(torch.complex(re, im), 32, 16, 32, window=torch.hann_window(32)).unsqueeze(1) * std
        got, _ = model(mix, model.encode(pos, neg))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
