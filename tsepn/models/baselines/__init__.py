"""Other target speaker extraction systems of the literature, as tsepn models (registered in MODELS
when tsepn.models imports their modules; see MODEL_MODULES there)."""
