"""Long recordings: windowed overlap-add, block streaming = in-memory, the CLI on model directories."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import tsepn
from deploy_helpers import make_model_dir
from extract_helpers import noise, read_wav, write_wav
from tsepn.api import TargetExtractor, _TorchBackend
from tsepn.bin.extract import AUTHORS_ARCHS, main
from tsepn.models import build_model
from tsepn.models.upstream import AUTHORS_ARCHS as MODEL_ARCHS
from tsepn.runtime.blocks import crossfade_weights, overlap_add_windows, rechunk


def blocks_of(audio, size):
    return [audio[:, i:i + size] for i in range(0, audio.shape[-1], size)]


@pytest.mark.parametrize("length", [1, 99, 100, 160, 161, 340, 1000])
@pytest.mark.parametrize("block", [7, 100, 333])
def test_overlap_add_reproduces_a_pointwise_model(length, block):
    """A model whose output at a sample does not depend on the window comes back exactly."""
    audio = noise(2, length, length)
    out = np.concatenate(list(overlap_add_windows(blocks_of(audio, block), lambda w: 2 * w + 1, 100, 40)), -1)
    assert out.shape == audio.shape
    np.testing.assert_allclose(out, 2 * audio + 1, rtol=0, atol=1e-6)


def test_overlap_add_is_the_documented_crossfade():
    """Windows start every window - overlap samples; overlaps blend (1 - r) * previous + r * next."""
    audio = noise(1, 250, 1)
    calls = []

    def run(w):
        calls.append(w.copy())
        return w * (len(calls) + 1)  # each window scaled differently: the seams show the blend

    out = np.concatenate(list(overlap_add_windows(blocks_of(audio, 64), run, 100, 20)), -1)
    starts = [0, 80, 160]
    assert [c.shape[-1] for c in calls] == [100, 100, 90]
    for c, s in zip(calls, starts):
        np.testing.assert_array_equal(c, audio[:, s:s + 100])
    r = crossfade_weights(20)
    expected = audio * 2
    expected[:, 80:100] = audio[:, 80:100] * (2 * (1 - r) + 3 * r)
    expected[:, 100:160] = audio[:, 100:160] * 3
    expected[:, 160:180] = audio[:, 160:180] * (3 * (1 - r) + 4 * r)
    expected[:, 180:] = audio[:, 180:] * 4
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)


def test_rechunk():
    audio = noise(1, 1000, 2)
    parts = list(rechunk(blocks_of(audio, 37), 128))
    assert [p.shape[-1] for p in parts] == [128] * 7 + [104]
    np.testing.assert_array_equal(np.concatenate(parts, -1), audio)


@pytest.fixture(scope="module")
def improved():
    torch.manual_seed(0)
    model = build_model("improved", n_layers=1, emb_dim=8, lstm_hidden=4, n_heads=1, approx_qk_dim=8,
                        head_layers=1, head_refine_layers=1, sample_rate=8000).eval()
    return model


def test_windowed_non_streaming_model(improved, tmp_path):
    """The improved model: one call when the input fits a window; windows otherwise, encoded once;
    the file path (blocks) gives the in-memory samples."""
    tse = TargetExtractor(_TorchBackend(improved, "cpu"), window_seconds=0.5, overlap_seconds=0.1)
    assert not tse.streaming
    mix, pos, neg = noise(1, 9000, 1), noise(1, 6000, 2), noise(1, 6000, 3)
    with torch.inference_mode():
        cond = improved.encode(torch.from_numpy(pos)[None], torch.from_numpy(neg)[None])
        one_call = improved(torch.from_numpy(mix[:, :4000])[None], cond)[0][0].numpy()
    np.testing.assert_array_equal(tse.extract(mix[:, :4000], pos, neg), one_call)
    encodes = []
    original = improved.encode
    improved.encode = lambda *a: encodes.append(1) or original(*a)
    try:
        windowed = tse.extract(mix, pos, neg)
    finally:
        del improved.encode
    assert encodes == [1] and windowed.shape == (1, 9000) and np.all(np.isfinite(windowed))
    write_wav(tmp_path / "mix.wav", mix, 8000)
    tse.extract_file(tmp_path / "mix.wav", tmp_path / "out.wav", pos=pos, neg=neg, block_seconds=0.13,
                     progress=False)
    np.testing.assert_array_equal(read_wav(tmp_path / "out.wav")[0], windowed)
    with pytest.raises(ValueError, match="no streaming state"):
        tse.stream(pos, neg)


def test_cli_model_dir_torch_and_onnx(tmp_path):
    make_model_dir(tmp_path)
    model_dir = tmp_path / "models" / "my-model"
    common = ["--mix", str(tmp_path / "mix.wav"), "--pos", str(tmp_path / "pos.wav"), "--neg",
              str(tmp_path / "neg.wav"), "--no-progress"]
    assert main([str(model_dir), *common, "--out", str(tmp_path / "torch.wav")]) == 0
    assert main([str(model_dir), "--backend", "onnx", *common, "--out", str(tmp_path / "onnx.wav")]) == 0
    a, b = read_wav(tmp_path / "torch.wav")[0], read_wav(tmp_path / "onnx.wav")[0]
    assert a.shape == b.shape == (1, 12000) and np.abs(a - b).max() <= 1e-4
    assert main(["--checkpoint", str(model_dir), *common, "--out", str(tmp_path / "gated.wav"),
                 "--absent-gate", "60"]) == 0
    gated = read_wav(tmp_path / "gated.wav")[0]
    assert gated.shape == a.shape and np.all(np.abs(gated) <= np.abs(a) + 1e-7)


def test_cli_arch_names_match_the_models():
    assert AUTHORS_ARCHS == MODEL_ARCHS
