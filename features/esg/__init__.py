"""Supplier ESG screening: point-in-time supplier features, knock-out gates, a spend-based
carbon estimate and the calibrated ESG risk model (see ``models.esg.model``)."""
