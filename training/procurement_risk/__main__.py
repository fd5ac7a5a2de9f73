"""``python -m training.procurement_risk train|score``: see ``training.procurement_risk.cli``."""

from training.procurement_risk.cli import main

if __name__ == "__main__":
    from core.settings import owner_only_files

    with owner_only_files():
        raise SystemExit(main())
