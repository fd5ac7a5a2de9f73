"""What the console's routes share, kept in ``app.state.console``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from fastapi.templating import Jinja2Templates

from core.clock import utc_now
from serving.console.i18n import Catalogue
from serving.console.sessions import SessionSeal
from serving.console.settings import ConsoleSettings


@dataclass
class ConsoleState:
    """What the console's routes share: settings, words, templates, the clock (naive UTC;
    tests move it to check the timeouts) and the session seal of the keyring's signing key
    (made at the first request: the keyring is read when the app starts). No session lives
    here."""

    settings: ConsoleSettings
    catalogues: dict[str, Catalogue]
    templates: Jinja2Templates
    clock: Callable[[], datetime] = field(default=utc_now)
    seals: dict[bytes, SessionSeal] = field(default_factory=dict)

    def seal(self, secret: bytes) -> SessionSeal:
        """The seal keyed by ``secret`` (the token-signing key), made once."""
        found = self.seals.get(secret)
        if found is None:
            found = self.seals.setdefault(secret, SessionSeal(self.settings, secret))
        return found
