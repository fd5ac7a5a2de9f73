"""The console's words: one catalogue per language (``locales/<code>.json``), Chinese first.

The language is the ``lang`` query parameter when given (the one-click switch sets the
cookie too), else the ``lodestar_lang`` cookie, else Chinese.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LOCALES_DIR = Path(__file__).parent / "locales"


@dataclass(frozen=True)
class Catalogue:
    """One language's strings; ``text(key, **values)`` formats them with ``str.format``."""

    language: str
    strings: dict[str, str]

    def text(self, key: str, **values: Any) -> str:
        template = self.strings.get(key)
        if template is None:
            raise KeyError(f"no {self.language} string for {key!r}")
        return template.format(**values) if values else template

    @classmethod
    def load(cls, language: str) -> Catalogue:
        path = LOCALES_DIR / f"{language}.json"
        strings = json.loads(path.read_text(encoding="utf-8"))
        return cls(language, {str(k): str(v) for k, v in strings.items()})


def load_catalogues() -> dict[str, Catalogue]:
    return {language: Catalogue.load(language) for language in LANGUAGES}


def choose_language(query_value: str | None, cookie_value: str | None) -> str:
    for candidate in (query_value, cookie_value):
        if candidate in LANGUAGES:
            return str(candidate)
    return DEFAULT_LANGUAGE
