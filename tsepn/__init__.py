"""tsepn: target speaker extraction from noisy positive and negative enrollments."""
from pathlib import Path

__version__ = (Path(__file__).parent / "VERSION").read_text().strip()
