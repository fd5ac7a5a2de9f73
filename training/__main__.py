"""``python -m training <job> [args]``: run one training job's command line.

Jobs: ``procurement-risk`` (``training.procurement_risk``), ``collusion``
(``training.collusion``), ``supplier-esg`` (``training.supplier_esg``), ``mastery``
(``training.mastery``), ``study-recommender`` (``training.recommender``). Each job is also
runnable as ``python -m training.<module>``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

JOBS = {
    "procurement-risk": "training.procurement_risk",
    "collusion": "training.collusion",
    "supplier-esg": "training.supplier_esg",
    "mastery": "training.mastery",
    "study-recommender": "training.recommender",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in JOBS:
        print(f"usage: python -m training {{{','.join(JOBS)}}} [args]", file=sys.stderr)
        return 2
    module = importlib.import_module(JOBS[args[0]])
    return int(module.main(args[1:]))


if __name__ == "__main__":
    from core.settings import owner_only_files

    with owner_only_files():
        raise SystemExit(main())
