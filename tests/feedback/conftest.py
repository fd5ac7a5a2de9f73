"""The serving fixtures (a keyed installation with two members, and the app over it)."""

from tests.serving.conftest import client, service_keyring, service_settings  # noqa: F401
