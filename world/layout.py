"""Where the demo world writes each file (the standard layout of ``ingest.layout``) and its truth.

The world folder holds only what a real installation would receive (standard formats). The
truth folder, a sibling, holds the planted ground truth; no feature or training code reads
it, only evaluations and tests do.
"""

from __future__ import annotations

from pathlib import Path

from ingest.layout import STANDARD_FILES, standard_paths

MANIFEST = "manifest.json"

# (reader kind, path relative to the world folder), in ingestion order: the standard layout.
WORLD_FILES = STANDARD_FILES

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
    return standard_paths(world_dir)
