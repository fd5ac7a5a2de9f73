"""Mastery (knowledge tracing) and the study recommender, with their MLflow faces."""
