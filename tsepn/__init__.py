"""tsepn: target speaker extraction from noisy positive and negative enrollments.

    import tsepn
    tse = tsepn.load("path/to/model-dir")     # see tsepn.api
    out = tse.extract(mix, pos, neg)
"""
from pathlib import Path

__version__ = (Path(__file__).parent / "VERSION").read_text().strip()


def load(path_or_dir, arch=None, device="cpu", **options):
    """Load a model directory / checkpoint / ONNX export for extraction (`tsepn.api.load`).

    Imported lazily so that `import tsepn` (and the torch-free `tsepn.runtime`) do not load torch.
    """
    from tsepn.api import load as _load

    return _load(path_or_dir, arch=arch, device=device, **options)
