"""Features: red flags and point-in-time histories of procurement, supplier ESG features, study
features, and the online-feature layer that keeps them current while the service runs."""
