"""Benchmarks behind `tsepn-bench`: `render` (training-example rendering) and `model` (model speed).

Nothing here is imported by the rest of the package; `model` must be imported before torch
so that its OpenMP setting takes effect, so this package imports nothing itself.
"""
