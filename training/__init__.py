"""Training jobs (fit, evaluate, track in MLflow, gate, register), their metrics and studies."""
