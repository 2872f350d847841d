"""Run an exported tsepn model (tsepn-export) with onnxruntime and numpy only: no torch import.

    from tsepn.runtime import OnnxExtractor
    ext = OnnxExtractor("exported/")                 # manifest.json, enroll.onnx, step.onnx
    out = ext.extract(mix, pos, neg)                 # numpy [C, T] in, [C, T] out
    stream = ext.stream(pos, neg)                    # live use
    for block in blocks:
        out_block = stream.push(block)               # any length; returns what is finished
    tail = stream.flush()                            # the rest, zero-padded to a whole chunk

The step graph runs a fixed chunk (manifest `chunk_samples`); pushed audio is buffered
into such chunks. Every chunk is normalised as the model was trained: by its own std
(`per_call`), by the positive enrollment's std (`enrollment`) or not at all (`none`).
"""
from tsepn.runtime.onnx import OnnxExtractor, OnnxStream, RuntimeInputError, load_manifest

__all__ = ["OnnxExtractor", "OnnxStream", "RuntimeInputError", "load_manifest"]
