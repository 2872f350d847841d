"""The FLOP counter behind `tsepn-bench model`'s floor counts what the formulas say."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tsepn.bench.flops import count_flops, matmul_rate
from tsepn.models import build_model


def lstm_flops(steps: int, hidden: int, inputs: int, directions: int) -> int:
    return 2 * steps * directions * 4 * hidden * (inputs + hidden)


@pytest.mark.parametrize("inference", [True, False])
def test_matrix_products_are_counted_in_and_out_of_inference_mode(inference):
    x, w, b = torch.randn(5, 7, 16), torch.randn(8, 16), torch.randn(8)
    q, k = torch.randn(2, 3, 5, 7), torch.randn(2, 3, 7, 4)
    with torch.inference_mode(inference):
        linear = count_flops(lambda: F.linear(x, w, b))
        batched = count_flops(lambda: q @ k)
    assert linear.by_kind == {"matmul": 2 * 35 * 16 * 8}
    assert batched.by_kind == {"matmul": 2 * 2 * 3 * 5 * 4 * 7}


def test_lstm_forward_and_backward():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(6, 5, batch_first=True, bidirectional=True)
    x = torch.randn(3, 11, 6)
    forward = lstm_flops(3 * 11, 5, 6, 2)
    with torch.inference_mode():
        assert count_flops(lambda: lstm(x)).by_kind["lstm"] == forward
    x.requires_grad_(True)
    assert count_flops(lambda: lstm(x)[0].sum().backward()).by_kind["lstm"] == 3 * forward


def test_plain_and_transposed_convolutions():
    x = torch.randn(1, 2, 10, 9)
    weight = torch.randn(4, 2, 3, 3)
    plain = count_flops(lambda: F.conv2d(x, weight, padding=1)).by_kind["conv"]
    assert plain == 2 * (4 * 10 * 9) * (2 * 3 * 3)
    y = torch.randn(1, 4, 10, 9)
    transposed = count_flops(lambda: F.conv_transpose2d(y, weight, padding=1)).by_kind["conv"]
    assert transposed == 2 * (4 * 10 * 9) * (2 * 3 * 3)  # every input element feeds C_out * kernel outputs


def test_streaming_chunk_of_the_published_model_is_dominated_by_lstm_flops():
    model = build_model("proposed-monaural").eval()
    with torch.inference_mode():
        cond = model.encode(torch.randn(1, 1, 3200), torch.randn(1, 1, 3200))
        counter = count_flops(lambda: model(torch.randn(1, 1, 128), cond))
    # 3 blocks, each an intra BLSTM over 65 bins (one oneDNN layer per direction) and one
    # inter-frame LSTM step of one frame for the 65 bins (one oneDNN layer, 65 rows)
    assert counter.by_kind["lstm"] == 3 * (lstm_flops(65, 64, 64, 2) + lstm_flops(65, 64, 64, 1))
    assert counter.by_kind["matmul"] > 0


def test_matmul_rate_is_a_positive_rate():
    assert matmul_rate(size=64, seconds=0.01, tries=2) > 0
