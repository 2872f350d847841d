"""The model interface every tsepn model follows, in code.

    cond = model.encode(pos, neg)                 # once per utterance (neg may be None)
    state = model.init_state(batch)               # or None: forward starts a stream
    out, state = model(mix_chunk, cond, state)    # per chunk, [B, in_channels, T] -> [B, out_channels, T]

Attributes:
- `sample_rate` (Hz), `in_channels`, `out_channels`;
- `latency` (samples): output sample n belongs to input sample n - latency;
- `inputs`: the batch inputs the model consumes, a subset of `MODEL_INPUTS` ("mix", "pos",
  "neg"); a clean-enrollment system takes ("mix", "pos") and ignores `neg`;
- `streaming`: True when chunked calls carry state (see the model's docstring for what a
  chunked call pattern gives).
`param_groups()` names every parameter exactly once, under any group names
({"encoder", "head", "main"}, {"speaker", "main"}, ...): training configs pick groups by
these names. Optional `train_outputs(inputs) -> {"wave": ..., ...}` for models whose
training needs more than the waveform (speaker logits, embeddings, pitch); `inputs` holds
the model inputs by name (`mix`, `pos`, `neg`). Without it, a training task runs `encode`
and the chunked `forward` and the outputs are `{"wave": out}`.

`TSEModel` is a runtime-checkable Protocol (isinstance checks the members exist);
`TSEModule` is an nn.Module base class with the defaults, for new models.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Protocol, Tuple, runtime_checkable

import torch
import torch.nn as nn

MODEL_INPUTS = ("mix", "pos", "neg")


@runtime_checkable
class TSEModel(Protocol):
    sample_rate: int
    in_channels: int
    out_channels: int
    latency: int
    inputs: Tuple[str, ...]
    streaming: bool

    def encode(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> Any:
        """Everything the extractor needs from the enrollment(s), once per utterance."""

    def init_state(self, batch: int) -> Any:
        """The state a stream starts from (None for a model without state)."""

    def forward(self, mix: torch.Tensor, cond: Any, state: Any = None) -> Tuple[torch.Tensor, Any]:
        """mix [B, in_channels, T] -> (out [B, out_channels, T], next state)."""

    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        """Group name -> parameters; every parameter in exactly one group."""


class TSEModule(nn.Module):
    """Defaults of the interface: mono 16 kHz, no latency, (mix, pos, neg) in, no state,
    one parameter group `main`. Subclasses set what differs and implement encode/forward."""

    sample_rate: int = 16000
    in_channels: int = 1
    out_channels: int = 1
    latency: int = 0
    inputs: Tuple[str, ...] = MODEL_INPUTS
    streaming: bool = False

    def encode(self, pos: torch.Tensor, neg: Optional[torch.Tensor] = None) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.encode")

    def init_state(self, batch: int) -> Any:
        return None

    def forward(self, mix: torch.Tensor, cond: Any, state: Any = None) -> Tuple[torch.Tensor, Any]:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def param_groups(self) -> Dict[str, List[nn.Parameter]]:
        return {"main": list(self.parameters())}


def check_model(model: Any) -> None:
    """Raise TypeError naming what `model` lacks of the interface (for registries and tests)."""
    name = type(model).__name__
    if not isinstance(model, TSEModel):
        missing = [m for m in ("sample_rate", "in_channels", "out_channels", "latency", "inputs", "streaming",
                               "encode", "init_state", "forward", "param_groups") if not hasattr(model, m)]
        raise TypeError(f"{name} does not follow the tsepn model interface; missing: {', '.join(missing)}")
    bad = [i for i in model.inputs if i not in MODEL_INPUTS]
    if bad or "mix" not in model.inputs or "pos" not in model.inputs:
        raise TypeError(f"{name}.inputs={tuple(model.inputs)}: must hold mix and pos, "
                        f"and only names among {', '.join(MODEL_INPUTS)}")
