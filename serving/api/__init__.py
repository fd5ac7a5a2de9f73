"""HTTP routes; ``api.main`` gathers the routers."""
