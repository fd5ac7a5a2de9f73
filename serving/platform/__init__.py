"""The service's platform: auth, audit log, rate and size limits, errors, metrics."""
