"""The runtime's API over `tsepn-export --format torchscript` files (enroll.pt, step.pt).

The TorchScript graphs take and return the same tensors as the ONNX ones (same manifest,
same state and ring conventions), so only the graph calls differ from `OnnxExtractor`:
here they are `torch.jit.load` modules, which needs torch (libtorch in C++) instead of
onnxruntime.
"""
from __future__ import annotations

import warnings
from typing import List, Optional

import numpy as np

from tsepn.runtime.onnx import OnnxExtractor, OnnxStream, RuntimeInputError

TORCHSCRIPT_FORMAT = "tsepn-torchscript-1"  # tsepn.export.TORCHSCRIPT_FORMAT


class TorchScriptStream(OnnxStream):
    """`OnnxStream` whose step is the TorchScript module, reading and writing the same arrays."""

    def _bind(self) -> None:
        import torch

        names = [s["name"] for s in self.x.manifest["step"]["inputs"]]
        self._args = [torch.from_numpy(self.inputs[name]) for name in names]  # share memory with the arrays
        self._outs = [self.outputs[s["name"]] for s in self.x.manifest["step"]["outputs"]]

    def _run(self) -> None:
        import torch

        with torch.inference_mode():
            values = self.x.step_module(*self._args)
        for array, value in zip(self._outs, values):
            np.copyto(array, value.numpy())


class TorchScriptExtractor(OnnxExtractor):
    """`OnnxExtractor`'s API (extract, stream, encode) over TorchScript graphs; `threads`: torch threads."""

    formats = (TORCHSCRIPT_FORMAT,)
    stream_class = TorchScriptStream

    def _open(self, threads: Optional[int]) -> None:
        import torch

        if threads is not None:
            torch.set_num_threads(int(threads))
        modules = []
        for key in ("enroll", "step"):
            path = self.model_dir / self.manifest["files"][key]
            if not path.is_file():
                raise RuntimeInputError(f"{path}: missing TorchScript file")
            with warnings.catch_warnings():  # torch >= 2.10 flags TorchScript as deprecated (torch.export)
                warnings.simplefilter("ignore", DeprecationWarning)
                modules.append(torch.jit.load(str(path), map_location="cpu").eval())
        self.enroll_module, self.step_module = modules

    def _run_enroll(self, pos: np.ndarray, neg: np.ndarray) -> List[np.ndarray]:
        import torch

        with torch.inference_mode():
            values = self.enroll_module(torch.from_numpy(pos), torch.from_numpy(neg))
        return [v.numpy() for v in values]
