"""The bid-rigging detector trained on proven cartels elsewhere, and its MLflow pyfunc."""
