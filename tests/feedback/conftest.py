"""The serving fixtures (a keyed installation with two members, and the app over it)."""

from tests.serving.conftest import (  # noqa: F401
    client,
    service_keyring,
    service_settings,
    service_template,
)
