"""Lodestar models: fitting, evaluation, MLflow tracking and registration."""
