"""The procurement risk model, its MLflow face, and the alerts it writes."""
