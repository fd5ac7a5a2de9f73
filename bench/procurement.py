"""Procurement risk: the explained HTTP route against MLflow's scoring server, and batch
scoring of 100,000 stored processes, on one registered model in one run.

    python bench/procurement.py [--data-dir DIR] [--batch-data-dir DIR]
        [--workdir /tmp/lodestar-bench-procurement] [--seconds 20]

Without ``--data-dir`` a scale-1 demo installation is made in the work folder
(``lodestar demo``), the model trained and registered there
(``python -m training.procurement_risk train``) and the store scored (``score``). Without
``--batch-data-dir`` a scale-5 demo installation (100,000 processes) is made for the batch
figures. Both servers serve ``models:/procurement-risk@champion`` of the first installation:

* ours: ``python -m serving run`` (uvicorn, one worker), ``POST /v1/procurement/risk`` with
  an OCDS release as the client sends it (features from the store's history, probability,
  level, red flags, top-5 SHAP reasons; bearer token checked, audit log written);
* baseline: ``mlflow models serve --env-manager local`` (uvicorn, one worker),
  ``POST /invocations`` with the same releases' feature rows (``dataframe_split``, one row):
  probability and level only, no explanation, no features built, no audit.

Load: a Python client on loopback, one keep-alive connection per client thread; latency at 1
client (p50, p99) and throughput and p99 at 32 concurrent clients. Every loop is bounded in
requests and seconds; errors (non-200 or transport) are counted and must be zero. Client and
server share the machine's cores, so the client's own cost is in the figures for both.

Batch: the 100,000-process store's history and features (``build_process_features``), then
the model's scores, unsupervised score and explanations (exact tree SHAP plus top-5 reason
codes) on the whole frame, each timed; LightGBM uses one thread, so rows/s is per core.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import Load, Request  # noqa: E402
from bench.load import drive as drive_requests  # noqa: E402
from bench.results import write_section  # noqa: E402
from bench.server import (  # noqa: E402
    BIN,
    drain,
    environment,
    free_port,
    get,
    log,
    met,
    our_server,
    run,
    server,
    wait_until,
)

MODEL = "procurement-risk"
SAMPLE_RELEASES = 500
WARMUP_REQUESTS = 100
SINGLE_CLIENT_REQUESTS = 2_000
CONCURRENT_CLIENTS = 32
CONCURRENT_REQUESTS = 6_000
STARTUP_SECONDS = 180
TARGET_P99_MS = 5.0
TARGET_RATIO = 5.0
TARGET_EXPLAIN_ROWS_PER_S = 2_000.0


SIZE_PARAMS = ("n_estimators", "num_leaves", "learning_rate", "min_data_in_leaf")


def champion_params(data_dir: Path) -> dict[str, str]:
    """The training parameters of the installation's champion run ({} if there is none).

    Asked in a child process: MLflow keeps one database engine per tracking URI for the
    life of a process, which would go on reading a tracking store moved aside."""
    script = (
        "import json, sys, mlflow\n"
        "uri, model = sys.argv[1], sys.argv[2]\n"
        "client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)\n"
        "try:\n"
        "    version = client.get_model_version_by_alias(model, 'champion')\n"
        "except mlflow.exceptions.MlflowException:\n"
        "    print('{}'); sys.exit(0)\n"
        "print(json.dumps(dict(client.get_run(str(version.run_id)).data.params)))\n"
    )
    uri = f"sqlite:///{data_dir.resolve() / 'mlflow.db'}"
    completed = subprocess.run(
        [sys.executable, "-c", script, uri, MODEL],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    params: dict[str, str] = json.loads(completed.stdout.strip().splitlines()[-1])
    return params


def default_size() -> dict[str, str]:
    """What ``make demo`` trains: ``TrainingOptions``' defaults, as MLflow logs them."""
    from training.procurement_risk import TrainingOptions

    defaults = TrainingOptions()
    return {name: str(getattr(defaults, name)) for name in SIZE_PARAMS}


def installation(data_dir: Path, scale: float, *, train: bool) -> None:
    """A demo installation at ``data_dir`` (keys beside the data), trained and scored.

    The bench measures the model ``make demo`` registers: an existing installation whose
    champion was trained with other parameters than ``TrainingOptions``' defaults (an older
    default, or a hand-made run) has its tracking store moved aside (``*.stale-<time>``) and
    is trained and scored again."""
    options = ["--data-dir", str(data_dir), "--key-file", str(data_dir / "keys.json"), "--quiet"]
    if not (data_dir / "lodestar.duckdb").exists():
        run([str(BIN / "lodestar"), "demo", "--scale", str(scale), *options])
    if not train:
        return
    if (data_dir / "mlflow.db").exists():
        params = champion_params(data_dir)
        size = {name: params.get(name) for name in SIZE_PARAMS}
        if size == default_size():
            return
        stamp = time.strftime("%Y%m%dT%H%M%S")
        log(f"champion trained with {size}, not the defaults {default_size()}: retraining")
        for name in ("mlflow.db", "mlartifacts"):
            if (data_dir / name).exists():
                (data_dir / name).rename(data_dir / f"{name}.stale-{stamp}")
    module = [sys.executable, "-m", "training.procurement_risk"]
    run([*module, "train", *options])
    run([*module, "score", "--store-write", *options])


def procurement_environment(data_dir: Path) -> dict[str, str]:
    """Both servers': the installation, its tracking store, and the virtualenv first on
    PATH (``mlflow models serve`` runs ``uvicorn`` from PATH)."""
    return environment(
        data_dir,
        MLFLOW_TRACKING_URI=f"sqlite:///{data_dir.resolve() / 'mlflow.db'}",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )


# --------------------------------------------------------------------------------------------
# Servers


def start_ours(stack: ExitStack, data_dir: Path, work: Path) -> int:
    env = procurement_environment(data_dir)
    return stack.enter_context(
        our_server(env, work / "ours.log", [MODEL], startup_seconds=STARTUP_SECONDS)
    )


def start_mlflow(stack: ExitStack, data_dir: Path, work: Path) -> int:
    port = free_port()
    command = [
        str(BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        f"models:/{MODEL}@champion",
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    env = procurement_environment(data_dir)
    process = stack.enter_context(server(command, env, work / "mlflow.log"))
    drain(process)
    wait_until(lambda: get(port, "/ping") is not None, process, "mlflow", STARTUP_SECONDS)
    return port


# --------------------------------------------------------------------------------------------
# Load


def drive(
    port: int,
    path: str,
    bodies: list[bytes],
    headers: dict[str, str],
    *,
    clients: int,
    requests: int,
    seconds: float,
) -> Load:
    """``requests`` POSTs of ``bodies`` to ``path`` (at most ``seconds``; ``bench.load``)."""
    work: list[Request] = [("POST", path, body) for body in bodies]
    return drive_requests(
        port, work, headers, clients=clients, total=requests, seconds=seconds, timeout=30.0
    )


def measure(port: int, path: str, bodies: list[bytes], headers: dict[str, str], seconds: float):
    drive(port, path, bodies, headers, clients=1, requests=WARMUP_REQUESTS, seconds=seconds)
    one = drive(
        port, path, bodies, headers, clients=1, requests=SINGLE_CLIENT_REQUESTS, seconds=seconds
    )
    many = drive(
        port,
        path,
        bodies,
        headers,
        clients=CONCURRENT_CLIENTS,
        requests=CONCURRENT_REQUESTS,
        seconds=seconds,
    )
    return one, many


# --------------------------------------------------------------------------------------------
# Payloads and batch


def payloads(data_dir: Path) -> tuple[list[bytes], list[bytes], str, str]:
    """(our bodies, MLflow bodies, auditor token, champion version): the first
    ``SAMPLE_RELEASES`` releases of the world, and their feature rows for MLflow."""
    import mlflow

    from core.security import PersonalData
    from core.settings import Settings
    from features.procurement.build import features_for_release
    from features.procurement.history import ProcurementHistory
    from features.procurement.specs import CATEGORICAL_FEATURES, FEATURE_NAMES
    from serving.platform.auth import issue_token
    from store.database import Store

    settings = Settings(data_dir=data_dir, key_file=data_dir / "keys.json")
    keyring = settings.keyring()
    path = settings.resolved_world_dir / "procurement" / "releases.jsonl"
    with path.open(encoding="utf-8") as lines:
        releases = [
            json.loads(line) for _, line in zip(range(SAMPLE_RELEASES), lines, strict=False)
        ]
    with Store.open(settings, keyring, read_only=True) as store:
        history = ProcurementHistory.from_store(
            store, settings=settings, personal=PersonalData(keyring), keep_records=False
        )
    ours, theirs = [], []
    for release in releases:
        row = features_for_release(history, release).iloc[0]
        values = [
            (None if row[name] is None or row[name] != row[name] else str(row[name]))
            if name in CATEGORICAL_FEATURES
            else (None if math.isnan(float(row[name])) else float(row[name]))
            for name in FEATURE_NAMES
        ]
        frame = {"dataframe_split": {"columns": list(FEATURE_NAMES), "data": [values]}}
        ours.append(json.dumps(release, ensure_ascii=False).encode())
        theirs.append(json.dumps(frame).encode())
    token = issue_token(keyring, "bench.auditor", "auditor", timedelta(hours=1))
    uri = settings.resolved_mlflow_tracking_uri
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = str(client.get_model_version_by_alias(MODEL, "champion").version)
    return ours, theirs, token, version


def batch(model_dir: Path, batch_dir: Path) -> dict[str, float]:
    """Seconds of each stage of scoring every process of the batch store."""
    import mlflow

    from core.settings import Settings
    from features.procurement.build import build_process_features
    from features.procurement.history import ProcurementHistory
    from store.database import Store

    uri = f"sqlite:///{model_dir.resolve() / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion").unwrap_python_model().risk_model
    settings = Settings(data_dir=batch_dir, key_file=batch_dir / "keys.json")
    out: dict[str, float] = {}
    started = time.perf_counter()
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        history = ProcurementHistory.from_store(store, settings=settings)
    out["history"] = time.perf_counter() - started
    started = time.perf_counter()
    frame = build_process_features(history)
    out["features"] = time.perf_counter() - started
    out["rows"] = float(len(frame))
    started = time.perf_counter()
    matrix = model.matrix(frame)
    out["encode"] = time.perf_counter() - started
    started = time.perf_counter()
    probability = model.calibrator.transform(model.raw_score_matrix(matrix))
    model.warning_level(probability)
    out["scores"] = time.perf_counter() - started
    started = time.perf_counter()
    model.unsupervised_score_matrix(matrix)
    out["unsupervised"] = time.perf_counter() - started
    started = time.perf_counter()
    contributions = model.contributions_matrix(matrix)
    out["shap"] = time.perf_counter() - started
    started = time.perf_counter()
    reasons = model.reasons_from_contributions(frame, contributions, k=5)
    out["reasons"] = time.perf_counter() - started
    assert len(reasons) == len(frame)
    worst = float(np.abs(contributions.sum(axis=1) - model.raw_score_matrix(matrix)).max())
    out["additivity_error"] = worst
    return out


# --------------------------------------------------------------------------------------------
# Report


def report(
    version: str,
    size: dict[str, str],
    ours: tuple[Load, Load],
    theirs: tuple[Load, Load],
    timings: dict[str, float],
    loads: list[str],
) -> str:
    lines = [
        f"Model `{MODEL}` version {version} (`@champion`), served by both: "
        f"{size.get('n_estimators')} trees of at most {size.get('num_leaves')} leaves, learning "
        f"rate {size.get('learning_rate')} (the training defaults, as `make demo` registers). "
        "Scale-1 demo store for the HTTP figures; batch on the scale-5 store.",
        "",
        "| server | route | clients | requests | errors | p50 ms | p99 ms | requests/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, route, (one, many) in (
        ("ours (uvicorn, 1 worker)", "POST /v1/procurement/risk (explained)", ours),
        ("mlflow models serve (1 worker)", "POST /invocations (no explanation)", theirs),
    ):
        for clients, load in ((1, one), (CONCURRENT_CLIENTS, many)):
            lines.append(
                f"| {name} | {route} | {clients} | {load.requests:,} | {load.errors} | "
                f"{load.percentile_ms(0.5):.2f} | {load.percentile_ms(0.99):.2f} | "
                f"{load.throughput:,.0f} |"
            )
    ratio = ours[1].throughput / theirs[1].throughput
    p99 = ours[0].percentile_ms(0.99)
    errors = sum(load.errors for load in ours)
    rows = timings["rows"]
    explain = timings["shap"] + timings["reasons"]
    lines += [
        "",
        f"Throughput at {CONCURRENT_CLIENTS} clients, ours / MLflow: **{ratio:.2f}×**.",
        "",
        f"Batch scoring of {rows:,.0f} stored processes (one process, LightGBM one thread):",
        "",
        "| stage | seconds | rows/s |",
        "| --- | ---: | ---: |",
    ]
    for stage, seconds in (
        ("history index from the store", timings["history"]),
        ("features (point in time)", timings["features"]),
        ("encode (feature matrix)", timings["encode"]),
        ("scores (raw, calibrated, level)", timings["scores"]),
        ("unsupervised score", timings["unsupervised"]),
        ("explanations: exact tree SHAP", timings["shap"]),
        ("explanations: top-5 reason codes", timings["reasons"]),
        ("explanations, total", explain),
    ):
        lines.append(f"| {stage} | {seconds:.2f} | {rows / seconds:,.0f} |")
    lines += [
        "",
        f"SHAP additivity: max |sum of contributions - raw score| = "
        f"{timings['additivity_error']:.2e}.",
        "",
        "| target | figure | result |",
        "| --- | ---: | --- |",
        f"| p99 < {TARGET_P99_MS:.0f} ms at 1 client | {p99:.2f} ms | {met(p99 < TARGET_P99_MS)} |",
        f"| ≥ {TARGET_RATIO:.0f}× MLflow's throughput | {ratio:.2f}× | "
        f"{met(ratio >= TARGET_RATIO)} |",
        f"| explanations ≥ {TARGET_EXPLAIN_ROWS_PER_S:,.0f} rows/s per core | "
        f"{rows / explain:,.0f} | {met(rows / explain >= TARGET_EXPLAIN_ROWS_PER_S)} |",
        f"| zero errors (ours) | {errors} | {met(errors == 0)} |",
        "",
        f"Load average (1 min) when each phase started: {', '.join(loads)}. The machine is "
        "shared: absolute figures move with the other work on it; the ratio less so.",
    ]
    firsts = [load.first_error for load in (*ours, *theirs) if load.first_error]
    if firsts:
        lines += ["", f"First error: `{firsts[0][:200]}`"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="a trained and scored installation")
    parser.add_argument("--batch-data-dir", type=Path, help="an installation of 100k processes")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lodestar-bench-procurement"))
    parser.add_argument("--seconds", type=float, default=20.0, help="cap of each load phase")
    args = parser.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    data_dir = args.data_dir or work / "scale-1"
    batch_dir = args.batch_data_dir or work / "scale-5"
    installation(data_dir, 1.0, train=True)

    ours_bodies, mlflow_bodies, token, version = payloads(data_dir)
    ours_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    mlflow_headers = {"Content-Type": "application/json"}
    loads: list[str] = []
    with ExitStack() as stack:
        ours_port = start_ours(stack, data_dir, work)
        mlflow_port = start_mlflow(stack, data_dir, work)
        log(f"servers up: ours :{ours_port}, mlflow :{mlflow_port}")
        loads.append(f"ours {os.getloadavg()[0]:.1f}")
        ours = measure(ours_port, "/v1/procurement/risk", ours_bodies, ours_headers, args.seconds)
        loads.append(f"MLflow {os.getloadavg()[0]:.1f}")
        theirs = measure(mlflow_port, "/invocations", mlflow_bodies, mlflow_headers, args.seconds)
    log("servers stopped; batch scoring")
    installation(batch_dir, 5.0, train=False)
    loads.append(f"batch {os.getloadavg()[0]:.1f}")
    timings = batch(data_dir, batch_dir)
    size = {name: champion_params(data_dir).get(name, "?") for name in SIZE_PARAMS}
    body = report(version, size, ours, theirs, timings, loads)
    print(body)
    write_section("Procurement risk (bench/procurement.py)", body)


if __name__ == "__main__":
    from core.settings import owner_only_files

    with owner_only_files():
        main()
