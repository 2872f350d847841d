"""tsepn: target speaker extraction from noisy positive and negative enrollments."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent

# Runtime requirements. torch is pinned to an exact release: an open range lets
# pip resolve to the newest CUDA build (several GB) instead of the CPU wheel.
# espnet is not listed: its metadata conflicts with torch 2.13 (setuptools<74);
# tools/setup_venv.sh installs it with --no-deps.
install_requires = [
    "torch==2.13.0",
    "numpy>=1.26",
    "scipy>=1.11",
    "soundfile>=0.12",
    "soxr>=0.3",
    "kaldiio>=2.18",
    "PyYAML>=6.0",
    "pesq>=0.0.4",
    "pystoi>=0.4",
    "tqdm>=4.60",
    "matplotlib>=3.7",
]

setup(
    name="tsepn",
    version=(here / "tsepn" / "VERSION").read_text().strip(),
    description="Target speaker extraction from noisy positive and negative enrollments",
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tsepn", "tsepn.*"]),
    package_data={"tsepn": ["VERSION"]},
    python_requires=">=3.10",
    install_requires=install_requires,
    extras_require={
        "espnet": ["espnet==202511"],
        "onnx": ["onnx>=1.16", "onnxruntime>=1.18"],
        "test": ["pytest>=8", "pytest-benchmark>=4", "fast_bss_eval>=0.1.4", "mir_eval>=0.7"],
    },
    entry_points={
        "console_scripts": [
            "tsepn-bench=tsepn.bin.bench:main",
            "tsepn-extract=tsepn.bin.extract:main",
            "tsepn-export=tsepn.bin.export:main",
            "tsepn-train=tsepn.bin.train:main",
            "tsepn-decode=tsepn.bin.decode:main",
            "tsepn-score=tsepn.bin.score:main",
            "tsepn-systems=tsepn.bin.systems:main",
        ]
    },
)
