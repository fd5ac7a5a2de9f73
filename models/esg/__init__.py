"""The supplier ESG model, its MLflow face, the greener ranking of bidders and the GRI report."""
