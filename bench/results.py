"""Write one benchmark's section of bench/RESULTS.md, stamped with the machine and date.

Each script owns one section (``## <name>``); re-running it replaces that section only.
"""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = (
    "# Benchmark results\n\n"
    "Written by the scripts in `bench/`; each section says how it was measured. Absolute\n"
    "times on a shared 2-core machine are noisy: read the ratio to the named baseline.\n"
)


def machine_line() -> str:
    memory_gib = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.node() or 'host'}: {platform.machine()}, {os.cpu_count()} cores, "
        f"{memory_gib:.0f} GiB, Python {platform.python_version()}, {platform.system()}"
    )


def write_section(name: str, body: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = f"## {name}\n\n*{stamp}; {machine_line()}*\n\n{body.strip()}\n"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else HEADER
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
