"""Request and response bodies, one module per group of routes."""
