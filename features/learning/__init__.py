"""Mastery (knowledge tracing), the check-in detector and the pyKT converter."""
