"""Fixtures of the simulation tests (the corpus writer lives in sim_corpus.py)."""
from sim_corpus import corpus  # noqa: F401  (pytest fixture)
