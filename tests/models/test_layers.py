"""Building blocks against their references: ESPnet's GridNet block, the STFT round trip."""
from __future__ import annotations

import warnings

import pytest
import torch

from tsepn.models.stft import STFTAnalysis, STFTSynthesis
from tsepn.models.tfgridnet import gridnet_block_forward

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from espnet2.enh.separator.tfgridnet_separator import GridNetBlock


@pytest.mark.parametrize("ks,hs,frames", [(4, 1, 9), (1, 1, 6), (2, 2, 7)])
def test_fast_gridnet_block_matches_espnet(ks, hs, frames):
    torch.manual_seed(0)
    block = GridNetBlock(8, ks, hs, 17, 6, n_head=2, approx_qk_dim=32)
    with torch.no_grad():
        for param in block.parameters():
            param.add_(0.1 * torch.randn_like(param))
    x = torch.randn(2, frames, 17, 8)
    with torch.no_grad():
        reference = block(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        fast = gridnet_block_forward(block, x)
    torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n_fft,hop", [(128, 64), (32, 16), (64, 16)])
def test_stft_round_trip(n_fft, hop):
    x = torch.randn(2, 3, 40 * hop)
    y = STFTSynthesis(n_fft, hop)(STFTAnalysis(n_fft, hop)(x))
    inner = slice(n_fft, -n_fft)
    torch.testing.assert_close(y[..., inner], x[..., inner], rtol=0, atol=1e-5)


def test_channel_freq_norm_matches_espnet():
    from espnet2.enh.separator.tfgridnet_separator import LayerNormalization4DCF

    from tsepn.models.attention import ChannelFreqNorm

    ours, theirs = ChannelFreqNorm(6, 17), LayerNormalization4DCF((6, 17))
    with torch.no_grad():
        for param in ours.parameters():
            param.normal_()
        theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 6, 5, 17)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
