from core.settings import owner_only_files
from training.collusion import main

with owner_only_files():
    raise SystemExit(main())
