"""The standard layout of an input folder: which file each reader kind reads, and in what order.

A real installation that lays out its exports this way can be ingested as a whole
(``ingest_folder``); the demo world writes this layout too (``world.layout``). Paths are
relative to the folder; the order is the ingestion order (catalogue before statements,
register before certifications and events, releases before audit outcomes).
"""

from __future__ import annotations

from pathlib import Path

# (reader kind, path relative to the input folder), in ingestion order.
STANDARD_FILES: tuple[tuple[str, str], ...] = (
    ("knowledge_points", "learning/knowledge_points.csv"),
    ("catalogue", "learning/catalogue.json"),
    ("members", "learning/members.csv"),
    ("meeting_attendance", "party/meetings.csv"),
    ("xapi", "learning/statements.jsonl"),
    ("supplier_register", "suppliers/register.csv"),
    ("supplier_certifications", "suppliers/certifications.csv"),
    ("supplier_events", "suppliers/events.csv"),
    ("ocds", "procurement/releases.jsonl"),
    ("audit_outcomes", "procurement/audit_outcomes.csv"),
    ("feedback_reports", "feedback/reports.csv"),
)


def standard_paths(folder: Path) -> list[tuple[str, Path]]:
    """(reader kind, absolute path) of every standard file of ``folder``, present or not."""
    return [(kind, Path(folder) / relative) for kind, relative in STANDARD_FILES]
