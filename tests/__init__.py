"""Lodestar's tests. Under pytest-xdist (`make test`) every worker process keeps OpenMP
(LightGBM) and BLAS to one thread, as do the servers and cluster workers its tests start: the
workers already use every core. Set here, before anything imports numpy or LightGBM."""

import os

if "PYTEST_XDIST_WORKER" in os.environ:
    for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, "1")
