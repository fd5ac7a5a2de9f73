"""What the console's routes share, kept in ``app.state.console``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from fastapi.templating import Jinja2Templates

from serving.console.i18n import Catalogue
from serving.console.sessions import Sessions
from serving.console.settings import ConsoleSettings
from serving.console.users import utc_now


@dataclass
class ConsoleState:
    """What the console's routes share: settings, sessions, words, templates and the clock
    (naive UTC; tests move it to check the timeouts)."""

    settings: ConsoleSettings
    sessions: Sessions
    catalogues: dict[str, Catalogue]
    templates: Jinja2Templates
    clock: Callable[[], datetime] = field(default=utc_now)
