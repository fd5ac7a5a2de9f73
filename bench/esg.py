"""Supplier ESG: latency of the two screening routes over HTTP, and screening 10,000 suppliers
in batch against the points-based scorecard on the same suppliers, in one run.

    python bench/esg.py [--data-dir /tmp/lodestar-esgbench] [--seconds 20]

Without an installation at ``--data-dir`` a scale-1 demo is made there (``lodestar demo``)
and the model trained and registered (``python -m training.supplier_esg train``).

HTTP: ``python -m serving run`` (uvicorn, one worker) on a free loopback port, on that
installation; ``GET /v1/suppliers/{id}/esg`` cycling through the register and
``POST /v1/tenders/{ocid}/esg-ranking`` cycling through tenders with two or more valid bids
(bearer token checked, audit log written, knock-outs, features, model and SHAP reasons per
request). A Python client on one keep-alive connection per thread; latency at 1 client (p50,
p99) and at ``CONCURRENT_CLIENTS``. Every loop is bounded in requests and seconds; errors
(non-200 or transport) are counted and must be zero. The server is stopped in ``finally``.

Batch: the register copied ten times under new ids (10,000 suppliers with the histories of
the real 1,000) and screened as of the world's last day: ours is features + gates
(supplier-wide knock-outs and category restrictions, ``features.esg.knockouts.gates_for``) +
``EsgModel.assess`` (calibrated score, band, action, pillars and five explained reasons with
their evidence); the baseline is features + gates + the points-based scorecard
(``training.supplier_esg.scorecard_points``: one number, no bands, no reasons). Ratio = our
seconds / baseline seconds: what the model and its explanations cost over the checklist.

Per request, in process: one supplier's screen (gates, features, model, five reasons with
evidence) for each of the 1,000 real suppliers, by the reference path (a feature frame,
``EsgModel.assess``) and by the routes' path (feature dicts, ``EsgModel.assess_rows``, as
``models.esg.ranking.screen_suppliers`` does); p50 of each and whether every assessment is
identical. The ratio is what the routes gained from scoring without frames.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import Load, Request, drive  # noqa: E402
from bench.results import write_section  # noqa: E402
from bench.server import BIN, environment, log, met, our_server, run  # noqa: E402

MODEL = "supplier-esg"
AS_OF = date(2025, 12, 31)
SAMPLE_TENDERS = 300
WARMUP_REQUESTS = 50
SINGLE_CLIENT_REQUESTS = 1_000
PER_REQUEST_REPEATS = 3
CONCURRENT_CLIENTS = 8
CONCURRENT_REQUESTS = 2_000
REPORT_REQUESTS = 5
BATCH_SUPPLIERS = 10_000
STARTUP_SECONDS = 180
TARGET_P99_MS = 100.0


def installation(data_dir: Path) -> None:
    """A scale-1 demo installation at ``data_dir`` with the ESG champion registered."""
    options = ["--data-dir", str(data_dir), "--key-file", str(data_dir / "keys.json"), "--quiet"]
    if not (data_dir / "lodestar.duckdb").exists():
        run([str(BIN / "lodestar"), "demo", *options])
    if not (data_dir / "mlflow.db").exists():
        run([sys.executable, "-m", "training.supplier_esg", "train", *options])


# --------------------------------------------------------------------------------------------
# Server


@contextmanager
def esg_server(data_dir: Path, log_path: Path) -> Iterator[int]:
    """Our server on the installation, once the ESG model is loaded."""
    with our_server(
        environment(data_dir), log_path, [MODEL], startup_seconds=STARTUP_SECONDS
    ) as port:
        yield port


# --------------------------------------------------------------------------------------------
# Load


def measure(
    port: int, requests: list[Request], headers: dict[str, str], seconds: float
) -> tuple[Load, Load]:
    drive(port, requests, headers, clients=1, total=WARMUP_REQUESTS, seconds=seconds)
    one = drive(port, requests, headers, clients=1, total=SINGLE_CLIENT_REQUESTS, seconds=seconds)
    many = drive(
        port,
        requests,
        headers,
        clients=CONCURRENT_CLIENTS,
        total=CONCURRENT_REQUESTS,
        seconds=seconds,
    )
    return one, many


def workload(data_dir: Path) -> tuple[list[Request], list[Request], str]:
    """(supplier requests, ranking requests, analyst token)."""
    from core.settings import Settings
    from serving.platform.auth import issue_token
    from store.database import Store

    settings = Settings(data_dir=data_dir, key_file=data_dir / "keys.json")
    keyring = settings.keyring()
    with Store.open(settings, keyring, read_only=True) as store:
        suppliers = store.query("SELECT supplier_id FROM suppliers ORDER BY 1")["supplier_id"]
        tenders = store.query(
            "SELECT ocid FROM bids WHERE status = 'valid' GROUP BY ocid "
            "HAVING COUNT(*) >= 2 ORDER BY ocid LIMIT ?",
            [SAMPLE_TENDERS],
        )["ocid"]
    supplier_requests: list[Request] = [
        ("GET", f"/v1/suppliers/{sid}/esg?as_of={AS_OF}", None) for sid in suppliers
    ]
    body = json.dumps({"esg_weight": 0.3}).encode()
    ranking_requests: list[Request] = [
        ("POST", f"/v1/tenders/{ocid}/esg-ranking", body) for ocid in tenders
    ]
    token = issue_token(keyring, "bench.esg", "esg_analyst", timedelta(hours=1))
    return supplier_requests, ranking_requests, token


# --------------------------------------------------------------------------------------------
# Batch


def batch(data_dir: Path) -> dict[str, float]:
    """Seconds of each stage of screening ``BATCH_SUPPLIERS`` suppliers, ours and baseline."""
    import mlflow

    from core.settings import Settings
    from features.esg.build import supplier_features
    from features.esg.history import SupplierHistory
    from features.esg.knockouts import gates_for
    from store.database import Store
    from training.supplier_esg import scorecard_points

    settings = Settings(data_dir=data_dir, key_file=data_dir / "keys.json")
    mlflow.set_tracking_uri(settings.resolved_mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion").unwrap_python_model().esg_model
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        real = SupplierHistory.from_store(store)
    records = list(real.suppliers.values())
    copies = {}
    for i in range(BATCH_SUPPLIERS):
        record = records[i % len(records)]
        sid = f"{record.supplier_id}-{i // len(records)}"
        copies[sid] = replace(record, supplier_id=sid)
    history = SupplierHistory(copies, category_factors=real.category_factors)
    ids = list(copies)
    out: dict[str, float] = {"suppliers": float(len(ids))}

    started = time.perf_counter()
    frame = supplier_features(history, ids, AS_OF)
    out["features"] = time.perf_counter() - started
    started = time.perf_counter()
    gates = [gates_for(history, sid, AS_OF) for sid in ids]
    out["knockouts"] = time.perf_counter() - started
    out["knocked_out"] = float(sum(not g.eligible for g in gates))
    out["restricted"] = float(sum(g.eligible and bool(g.restrictions) for g in gates))
    started = time.perf_counter()
    assessments = model.assess(frame, k=5, history=history)
    out["assess"] = time.perf_counter() - started
    out["unknown"] = float(sum(a.unknown for a in assessments))
    started = time.perf_counter()
    points = scorecard_points(frame)
    out["scorecard"] = time.perf_counter() - started
    assert len(assessments) == len(points) == len(ids)
    out["ours"] = out["features"] + out["knockouts"] + out["assess"]
    out["baseline"] = out["features"] + out["knockouts"] + out["scorecard"]
    return out | per_request(model, real)


def per_request(model: Any, history: Any) -> dict[str, float]:
    """p50 seconds of one supplier's screen by the reference path and the routes' path, over
    every real supplier (best of ``PER_REQUEST_REPEATS`` passes each), and whether the two
    give identical assessments (1.0) or not (0.0)."""
    import numpy as np

    from features.esg.build import supplier_features
    from features.esg.knockouts import gates_for
    from models.esg.ranking import screen_suppliers

    reference: list[float] = []
    fast: list[float] = []
    identical = True
    for sid in history.supplier_ids:
        best_reference = best_fast = math.inf
        for _ in range(PER_REQUEST_REPEATS):
            started = time.perf_counter()
            gates_for(history, sid, AS_OF)
            slow = model.assess(supplier_features(history, [sid], AS_OF), k=5, history=history)
            best_reference = min(best_reference, time.perf_counter() - started)
            started = time.perf_counter()
            screen = screen_suppliers(history, model, [sid], AS_OF, k=5)
            best_fast = min(best_fast, time.perf_counter() - started)
        reference.append(best_reference)
        fast.append(best_fast)
        identical = identical and [screen.assessments[sid]] == slow
    return {
        "request_reference": float(np.median(reference)),
        "request_fast": float(np.median(fast)),
        "request_identical": float(identical),
        "request_suppliers": float(len(fast)),
    }


# --------------------------------------------------------------------------------------------
# Report


def report(
    version: str,
    supplier: tuple[Load, Load],
    ranking: tuple[Load, Load],
    report_load: Load,
    timings: dict[str, float],
) -> str:
    lines = [
        f"Model `{MODEL}` version {version} (`@champion`); scale-1 demo store (1,000 suppliers), "
        f"screens as of {AS_OF}. Server: `python -m serving run` (uvicorn, 1 worker) on "
        "loopback; bearer token checked and audit entry written on every request.",
        "",
        "| route | clients | requests | errors | p50 ms | p99 ms | requests/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for route, (one, many) in (
        ("GET /v1/suppliers/{id}/esg", supplier),
        ("POST /v1/tenders/{ocid}/esg-ranking", ranking),
    ):
        for clients, load in ((1, one), (CONCURRENT_CLIENTS, many)):
            lines.append(
                f"| {route} | {clients} | {load.requests:,} | {load.errors} | "
                f"{load.percentile_ms(0.5):.2f} | {load.percentile_ms(0.99):.2f} | "
                f"{load.throughput:,.0f} |"
            )
    lines.append(
        f"| GET /v1/esg/report (a year, every supplier) | 1 | {report_load.requests} | "
        f"{report_load.errors} | {report_load.percentile_ms(0.5):.0f} | "
        f"{report_load.percentile_ms(0.99):.0f} | - |"
    )
    n = timings["suppliers"]
    ratio = timings["ours"] / timings["baseline"]
    speedup = timings["request_reference"] / timings["request_fast"]
    lines += [
        "",
        f"Batch screening of {n:,.0f} suppliers (the register ×10 under new ids; one process, "
        f"LightGBM one thread); {timings['knocked_out']:,.0f} knocked out (a supplier-wide "
        f"gate), {timings['restricted']:,.0f} more eligible but barred from one or more of "
        f"their categories (a missing mark or licence), {timings['unknown']:,.0f} unknown:",
        "",
        "| stage | seconds | suppliers/s |",
        "| --- | ---: | ---: |",
    ]
    for stage, seconds in (
        ("features (point in time)", timings["features"]),
        ("gates (knock-outs and category restrictions)", timings["knockouts"]),
        ("model: score, band, pillars, SHAP, 5 reasons with evidence", timings["assess"]),
        ("baseline: points scorecard", timings["scorecard"]),
        ("**ours: features + gates + model**", timings["ours"]),
        ("**baseline: features + gates + scorecard**", timings["baseline"]),
    ):
        lines.append(f"| {stage} | {seconds:.2f} | {n / seconds:,.0f} |")
    p99 = max(supplier[0].percentile_ms(0.99), ranking[0].percentile_ms(0.99))
    errors = sum(load.errors for load in (*supplier, *ranking, report_load))
    lines += [
        "",
        f"Ours / baseline (batch seconds): **{ratio:.2f}×** — the price of a calibrated band, "
        "pillars and explained reasons over a single checklist number.",
        "",
        "One supplier's screen in process (gates, features, model, five reasons with evidence; "
        f"p50 over the {timings['request_suppliers']:,.0f} real suppliers, best of "
        f"{PER_REQUEST_REPEATS} each):",
        "",
        "| path | p50 ms |",
        "| --- | ---: |",
        "| baseline: reference (feature frame, `EsgModel.assess`) | "
        f"{1000 * timings['request_reference']:.2f} |",
        "| ours: the routes' (feature dicts, `EsgModel.assess_rows`) | "
        f"{1000 * timings['request_fast']:.2f} |",
        "",
        f"Reference / routes' path: **{speedup:.1f}×**; assessments identical: "
        f"{'yes' if timings['request_identical'] else '**no**'}.",
        "",
        "| target | figure | result |",
        "| --- | ---: | --- |",
        f"| p99 < {TARGET_P99_MS:.0f} ms at 1 client, both routes | {p99:.1f} ms | "
        f"{met(p99 < TARGET_P99_MS)} |",
        f"| zero errors | {errors} | {met(errors == 0)} |",
        f"| routes' path identical to the reference | "
        f"{'yes' if timings['request_identical'] else 'no'} | "
        f"{met(bool(timings['request_identical']))} |",
    ]
    firsts = [load.first_error for load in (*supplier, *ranking, report_load) if load.first_error]
    if firsts:
        lines += ["", f"First error: `{firsts[0][:200]}`"]
    return "\n".join(lines)


def champion_version(data_dir: Path) -> str:
    import mlflow

    uri = f"sqlite:///{data_dir.resolve() / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    return str(client.get_model_version_by_alias(MODEL, "champion").version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/lodestar-esgbench"))
    parser.add_argument("--seconds", type=float, default=20.0, help="cap of each load phase")
    args = parser.parse_args()
    data_dir = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    installation(data_dir)
    version = champion_version(data_dir)
    supplier_requests, ranking_requests, token = workload(data_dir)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    report_request: list[Request] = [("GET", "/v1/esg/report?from=2025-01-01&to=2025-12-31", None)]
    with esg_server(data_dir, data_dir / "server.log") as port:
        log(f"server up on :{port}")
        supplier = measure(port, supplier_requests, headers, args.seconds)
        ranking = measure(port, ranking_requests, headers, args.seconds)
        report_load = drive(
            port, report_request, headers, clients=1, total=REPORT_REQUESTS, seconds=args.seconds
        )
    log("server stopped; batch screening")
    timings = batch(data_dir)
    body = report(version, supplier, ranking, report_load, timings)
    print(body)
    write_section("Supplier ESG (bench/esg.py)", body)


if __name__ == "__main__":
    from core.settings import owner_only_files

    with owner_only_files():
        main()
