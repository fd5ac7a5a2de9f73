"""Models and their MLflow faces: procurement risk, supplier ESG, mastery, the study recommender."""
