"""Evaluation metrics as small pure functions: binary detectors, procurement risk, top-k."""
