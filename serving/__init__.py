"""The Lodestar HTTP service: FastAPI app factory, auth, audit log, errors, metrics, CLI.

Entry points: ``serving.app.create_app(settings)`` and ``python -m serving`` (``lodestar-serve``).
"""
