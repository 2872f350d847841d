"""The authors' published architectures, as tsepn model arguments.

Their checkpoints are `{"state_dict": model.state_dict()}` of their classes; tsepn's
models use the same parameter names, so the state dicts load unchanged (the key mapping
is the identity; `KEY_MAPS` is where a renaming would go). Sources: the authors'
eval_monaural.py / eval_binaural.py and configs/Hyperparameter_*_stage-2.yaml.
"""
from __future__ import annotations

from typing import Callable, Dict

# Registry name of the model class each published checkpoint belongs to.
AUTHORS_ARCHS = ("proposed-monaural", "proposed-binaural", "improved-monaural")

PROPOSED_MONAURAL = dict(
    channels=1, n_fft=128, hop=64,
    n_layers=3, lstm_hidden=64, emb_dim=64, n_heads=4, approx_qk_dim=512, attention_span=50,
    fusion="cross_attention", fusion_layers=[0, 1],
    fusion_args=dict(n_heads=4, approx_qk_dim=512, pooling_size=40, pooling_stride=40),
    normalization="per_call", framing="upstream",
    encoder_channels=2, encoder_layers=3, encoder_lstm_hidden=64, encoder_emb_dim=64, encoder_emb_ks=4,
    encoder_emb_hs=1, head_layers=2, head_heads=4, eps=1e-5, sample_rate=16000,
)

# Binaural: 2 channels in and out, the encoder sees both ears, pooling 20 frames.
PROPOSED_BINAURAL = dict(
    PROPOSED_MONAURAL, channels=2,
    fusion_args=dict(n_heads=4, approx_qk_dim=512, pooling_size=20, pooling_stride=20),
)

PRESETS: Dict[str, dict] = {"proposed-monaural": PROPOSED_MONAURAL, "proposed-binaural": PROPOSED_BINAURAL}

# arch -> function renaming the authors' state-dict keys to tsepn's (identity when absent).
KEY_MAPS: Dict[str, Callable[[dict], dict]] = {}


def to_tsepn_state_dict(arch: str, state_dict: dict) -> dict:
    mapping = KEY_MAPS.get(arch)
    return mapping(state_dict) if mapping else state_dict
