"""Where the demo world writes each file, and which reader reads it.

The world folder holds only what a real installation would receive (standard formats). The
truth folder, a sibling, holds the planted ground truth; no feature or training code reads
it, only evaluations and tests do.
"""

from __future__ import annotations

from pathlib import Path

MANIFEST = "manifest.json"

# (reader kind, path relative to the world folder), in ingestion order.
WORLD_FILES: tuple[tuple[str, str], ...] = (
    ("knowledge_points", "learning/knowledge_points.csv"),
    ("catalogue", "learning/catalogue.json"),
    ("members", "learning/members.csv"),
    ("xapi", "learning/statements.jsonl"),
    ("supplier_register", "suppliers/register.csv"),
    ("supplier_certifications", "suppliers/certifications.csv"),
    ("supplier_events", "suppliers/events.csv"),
    ("ocds", "procurement/releases.jsonl"),
    ("audit_outcomes", "procurement/audit_outcomes.csv"),
)

SHIFT_PATTERNS = "learning/shift_patterns.json"

# Truth files (relative to the truth folder).
TRUTH_PROCESS_SCHEMES = "process_schemes.csv"  # ocid, scheme, detail
TRUTH_RINGS = "bid_rings.csv"  # ring_id, supplier_id, role
TRUTH_RELATED_GROUPS = "related_suppliers.csv"  # group_id, supplier_id, shared
TRUTH_SUPPLIER_ESG = "supplier_esg.csv"  # supplier_id, latent_risk, ...
TRUTH_MEMBERS = "members.csv"  # employee_no, check_in_only, ability, ...
TRUTH_MASTERY = "mastery_monthly.csv"  # employee_no, kp_id, month, mastery
TRUTH_RATES = "rates.json"  # the planted rates, for tests to compare with


def world_paths(world_dir: Path) -> list[tuple[str, Path]]:
    return [(kind, world_dir / relative) for kind, relative in WORLD_FILES]
