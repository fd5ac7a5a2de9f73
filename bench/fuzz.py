"""API fuzzing: requests generated from the service's own OpenAPI schema, for every route and
every role, each answer checked against that schema.

    python bench/fuzz.py [--data-dir /tmp/lodestar-fuzz] [--cases 2000] [--seconds 1800]

Without an installation at ``--data-dir`` a demo is made there (``lodestar demo``), the four
models trained and registered and the risk model's warnings scored into ``alerts``. Each run
serves a fresh copy of that store (the fuzz run writes: statements, reviews, revocations),
with ``python -m serving run`` on a free loopback port: requests go to 127.0.0.1 only, at
most ``--cases`` per route and ``--seconds`` in all.

Cases come from schemathesis (coverage phase: boundary values, wrong types, other content
types; then property-based fuzzing, valid and invalid data), one derandomised run per route
and caller: a token of each role in ``ROLES`` and no token at all. Path ids are also drawn
from the installation's real ones (a member's own employee number, a real alert, supplier
and tender), so the models answer for real. An answer fails when it is a 5xx, when its status
is not documented for the route, or when its body or content type does not match the schema.

Every request carries its own ``X-Request-ID``; once the server has stopped, the store's
``audit_log`` must hold an entry for each request sent, public paths and refused ones
included.

The figures go to ``bench/RESULTS.md`` (section "API fuzzing"). The in-suite fuzz test
(``tests/serving/test_fuzz.py``) runs the same checks in process with a small budget.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase

ROLES = (
    "admin",
    "auditor",
    "procurement_manager",
    "esg_analyst",
    "party_officer",
    "security_auditor",
    "member",
)
ANONYMOUS = "anonymous"  # no Authorization header
AUTHENTICATED_PREFIX = "/v1/"  # routes that need a credential
MODELS = ("procurement-risk", "supplier-esg", "mastery", "study-recommender")
SECTION = "API fuzzing (bench/fuzz.py)"

# Settings every fuzz run needs on top of the installation's: one subject per role sends
# thousands of requests, which per-subject rate limits would answer with 429; an admin's
# valid retrain request would train four models in the background for the rest of the run.
FUZZ_SETTINGS: dict[str, object] = {"rate_limits": {"enabled": False}, "retrain_enabled": False}

# Path parameters the fuzz run also fills with the installation's real ids.
KNOWN_ID_PARAMETERS = ("employee_no", "alert_id", "supplier_id", "ocid")

_EXAMPLE_CHARS = 300


def _environment_value(value: object) -> str:
    """A setting as pydantic-settings reads it from the environment (JSON for nested ones)."""
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def fuzz_environment() -> dict[str, str]:
    """``FUZZ_SETTINGS`` as the server's ``LODESTAR_*`` environment variables."""
    return {
        f"LODESTAR_{name.upper()}": _environment_value(value)
        for name, value in FUZZ_SETTINGS.items()
    }


def staff_subject(role: str) -> str:
    """The token subject of a staff role's fuzz caller."""
    return f"fuzz.{role}"


@dataclass(frozen=True)
class Caller:
    """Who sends a route's cases: a name (a role or ``ANONYMOUS``) and its headers."""

    name: str
    headers: Mapping[str, str]


def callers(token_for: Callable[[str, str], str], member_employee_no: str) -> list[Caller]:
    """A caller per role (the member one is ``member_employee_no``, so their own records are
    reachable) and one without a token. ``token_for(subject, role)`` signs a token."""
    out = [
        Caller(
            role,
            {
                "Authorization": "Bearer "
                + token_for(member_employee_no if role == "member" else staff_subject(role), role)
            },
        )
        for role in ROLES
    ]
    return [*out, Caller(ANONYMOUS, {})]


@dataclass(frozen=True)
class Problem:
    """One failed check on one answer: its kind and the check's one-line title."""

    kind: str
    title: str


@dataclass(frozen=True)
class Outcome:
    """One request sent and what came of it."""

    route: str  # "GET /v1/audit-log": the operation's method and path template
    caller: str
    request_id: str
    status: int | None  # None: no answer (connection error)
    example: str  # method, path with query, and the start of the body, as sent
    problems: tuple[Problem, ...]


_KINDS = {
    "ServerError": "5xx",
    "JsonSchemaError": "response schema",
    "MalformedJson": "response schema",
    "UndefinedStatusCode": "undocumented status",
    "UndefinedContentType": "content type",
    "MissingContentType": "content type",
    "MalformedMediaType": "content type",
}


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]


def _problems(case: Any, response: Any) -> tuple[Problem, ...]:
    from schemathesis.core.failures import FailureGroup

    try:
        case.validate_response(response, checks=_checks())
    except FailureGroup as group:
        return tuple(
            Problem(_KINDS.get(type(failure).__name__, type(failure).__name__), _title(failure))
            for failure in group.exceptions
        )
    return ()


def _title(failure: Any) -> str:
    """The check's title; for a schema violation also what broke and where (array indices
    as ``*``, so one cause on every item is one title)."""
    title = str(failure.title).splitlines()[0]
    raw = getattr(failure, "_raw_message", None)
    if raw is None:
        return title
    where = "/".join("*" if isinstance(p, int) else str(p) for p in failure.instance_path)
    first_line = str(raw).splitlines()[0]
    # Messages start with the offending value; drop it, so one cause is one title.
    value = json.dumps(failure.instance, ensure_ascii=False)
    reason = first_line.removeprefix(value).strip() if first_line.startswith(value) else first_line
    return f"{title}: {reason[:160]} at /{where}"


def _as_sent(request: Any) -> str:
    """Method, path with query and the start of the body of a sent request (no host, no
    headers: the token stays out of reports)."""
    url = str(request.url)
    path = url.split("://", 1)[-1]
    path = path[path.find("/") :] if "/" in path else "/"
    body = request.body or b""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="backslashreplace")
    text = f"{request.method} {path}"
    if body:
        text += f" {body[:_EXAMPLE_CHARS]}" + ("..." if len(body) > _EXAMPLE_CHARS else "")
    return text


def _hypothesis_settings(max_examples: int) -> hypothesis.settings:
    """Derandomised (a fixed seed per test), no example database, no shrinking: every case
    runs once and is recorded, none is retried."""
    return hypothesis.settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=hypothesis.Verbosity.quiet,
        report_multiple_bugs=False,
    )


def fuzz_operation(
    operation: Any,
    caller: Caller,
    *,
    max_examples: int,
    deadline: float,
    call_kwargs: Mapping[str, Any],
    request_ids: Iterator[str],
    path_parameters: Mapping[str, str] | None = None,
    coverage: bool = True,
) -> list[Outcome]:
    """Send schemathesis's cases for one operation as ``caller`` and check each answer:
    the coverage phase's cases (when ``coverage``) then up to ``max_examples`` fuzzed ones,
    valid and invalid, until ``time.monotonic()`` passes ``deadline`` (the first case is
    always sent). With
    ``path_parameters`` those path values are fixed and only the rest is generated.
    ``call_kwargs`` go to ``Case.call`` (``base_url`` and ``session`` for a live server;
    nothing for an app loaded in process)."""
    from schemathesis.generation.hypothesis.builder import (
        HypothesisTestConfig,
        HypothesisTestMode,
        create_test,
    )
    from schemathesis.generation.overrides import Override

    outcomes: list[Outcome] = []
    label = f"{operation.method.upper()} {operation.path}"

    def send(case: Any) -> None:
        if outcomes and time.monotonic() > deadline:
            return
        request_id = next(request_ids)
        headers = {**caller.headers, "X-Request-ID": request_id}
        if caller.name == ANONYMOUS and case.headers:
            case.headers.pop("Authorization", None)
        try:
            response = case.call(headers=headers, **call_kwargs)
        except Exception as error:  # no answer at all: the server crashed or hung up
            problem = Problem("no answer", f"{type(error).__name__}: {error}"[:200])
            outcomes.append(Outcome(label, caller.name, request_id, None, label, (problem,)))
            return
        outcomes.append(
            Outcome(
                label,
                caller.name,
                request_id,
                response.status_code,
                _as_sent(response.request),
                _problems(case, response),
            )
        )

    modes = [HypothesisTestMode.FUZZING]
    if coverage:
        modes.append(HypothesisTestMode.COVERAGE)
    override = Override(path_parameters=dict(path_parameters or {}))
    project = operation.schema.config
    test = create_test(
        operation=operation,
        test_func=send,
        config=HypothesisTestConfig(
            project=project,
            modes=modes,
            settings=_hypothesis_settings(max_examples),
            override=override,
        ),
    )
    test()
    return outcomes


def fuzz_schema(
    schema: Any,
    route_callers: Callable[[str], list[Caller]],
    *,
    cases_per_route: int,
    seconds: float,
    known_ids: Mapping[str, str],
    call_kwargs: Mapping[str, Any],
    coverage: bool = True,
    request_id_prefix: str = "fuzz",
    progress: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Every operation of ``schema`` for each of ``route_callers(path)``: ``cases_per_route``
    fuzzed cases shared among its callers (half with generated path ids, half with the
    ``known_ids`` the route takes, when it takes any), plus the coverage phase's cases; the
    whole run stops sending after ``seconds``. Request ids are ``{request_id_prefix}-{n}``."""
    started = time.monotonic()
    request_ids = (f"{request_id_prefix}-{n:07d}" for n in itertools.count(1))
    operations = [
        (operation, route_callers(operation.path))
        for operation in (result.ok() for result in schema.get_all_operations())
    ]
    operations = [(operation, sent_by) for operation, sent_by in operations if sent_by]
    outcomes: list[Outcome] = []
    for position, (operation, route_callers_now) in enumerate(operations):
        # Each route gets an equal share of what is left of the time.
        remaining = seconds - (time.monotonic() - started)
        deadline = time.monotonic() + remaining / (len(operations) - position)
        known = {
            name: known_ids[name]
            for name in KNOWN_ID_PARAMETERS
            if name in known_ids and "{" + name + "}" in operation.path
        }
        shares = [None, known] if known else [None]
        per_run = max(1, math.ceil(cases_per_route / (len(route_callers_now) * len(shares))))
        for caller, fixed in itertools.product(route_callers_now, shares):
            outcomes += fuzz_operation(
                operation,
                caller,
                max_examples=per_run,
                deadline=deadline,
                call_kwargs=call_kwargs,
                request_ids=request_ids,
                path_parameters=fixed,
                coverage=coverage and fixed is None,
            )
        if progress is not None:
            sent = sum(1 for o in outcomes if o.route.endswith(f" {operation.path}"))
            progress(f"{operation.method.upper()} {operation.path}: {sent} cases")
    return outcomes


# --------------------------------------------------------------------------------------------
# Figures


@dataclass
class RouteFigures:
    cases: int = 0
    server_errors: int = 0
    schema_violations: int = 0  # response body or content type not as documented
    undocumented_statuses: int = 0
    no_answer: int = 0
    statuses: Counter[int | None] = field(default_factory=Counter)


def figures_by_route(outcomes: Iterable[Outcome]) -> dict[str, RouteFigures]:
    out: dict[str, RouteFigures] = defaultdict(RouteFigures)
    for outcome in outcomes:
        figures = out[outcome.route]
        figures.cases += 1
        figures.statuses[outcome.status] += 1
        kinds = {problem.kind for problem in outcome.problems}
        figures.server_errors += "5xx" in kinds
        figures.schema_violations += bool(kinds & {"response schema", "content type"})
        figures.undocumented_statuses += "undocumented status" in kinds
        figures.no_answer += "no answer" in kinds
    return dict(out)


@dataclass(frozen=True)
class DistinctFailure:
    """Failures of one kind, on one route, with one status and title: how many, which
    callers, and the first request that showed it."""

    kind: str
    route: str
    status: int | None
    title: str
    count: int
    callers: tuple[str, ...]
    example: str


def distinct_failures(outcomes: Iterable[Outcome]) -> list[DistinctFailure]:
    groups: dict[tuple[str, str, int | None, str], list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        for problem in outcome.problems:
            groups[(problem.kind, outcome.route, outcome.status, problem.title)].append(outcome)
    return [
        DistinctFailure(
            kind=kind,
            route=route,
            status=status,
            title=title,
            count=len(seen),
            callers=tuple(sorted({o.caller for o in seen})),
            example=min((o.example for o in seen), key=len),
        )
        for (kind, route, status, title), seen in sorted(
            groups.items(), key=lambda item: (item[0][0], item[0][1], str(item[0][2]))
        )
    ]


def audited_request_ids(outcomes: Iterable[Outcome]) -> set[str]:
    """The ids of every request sent, public paths included: each must be in the audit log."""
    return {o.request_id for o in outcomes}


def unaudited(outcomes: Iterable[Outcome], logged_ids: set[str]) -> list[Outcome]:
    """Requests to authenticated routes with no audit entry (by request id)."""
    wanted = audited_request_ids(outcomes)
    return [o for o in outcomes if o.request_id in wanted and o.request_id not in logged_ids]


def route_table(figures: Mapping[str, RouteFigures]) -> str:
    lines = [
        "| route | cases | 5xx | schema violations | undocumented statuses | statuses seen |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for route in sorted(figures, key=lambda r: (r.split(" ", 1)[1], r)):
        f = figures[route]
        seen = ", ".join(f"{s}×{n}" for s, n in sorted(f.statuses.items(), key=lambda i: str(i[0])))
        lines.append(
            f"| `{route}` | {f.cases:,} | {f.server_errors} | {f.schema_violations} "
            f"| {f.undocumented_statuses} | {seen} |"
        )
    total = RouteFigures()
    for f in figures.values():
        total.cases += f.cases
        total.server_errors += f.server_errors
        total.schema_violations += f.schema_violations
        total.undocumented_statuses += f.undocumented_statuses
    lines.append(
        f"| **all** | {total.cases:,} | {total.server_errors} | {total.schema_violations} "
        f"| {total.undocumented_statuses} | |"
    )
    return "\n".join(lines)


def failure_list(failures: Iterable[DistinctFailure]) -> str:
    lines = []
    for failure in failures:
        lines.append(
            f"- {failure.kind}: `{failure.route}` → {failure.status} ({failure.count}×; "
            f"{', '.join(failure.callers)}): {failure.title}\n  e.g. `{failure.example}`"
        )
    return "\n".join(lines) or "none"


def unaudited_summary(missing: Iterable[Outcome]) -> str:
    counts = Counter((o.route, o.status) for o in missing)
    return "\n".join(
        f"- `{route}` → {status}: {n} without an audit entry"
        for (route, status), n in sorted(counts.items(), key=lambda i: (i[0][0], str(i[0][1])))
    )


# --------------------------------------------------------------------------------------------
# The long run against a real server


def installation(data_dir: Path, scale: float) -> None:
    """A demo installation at ``data_dir`` with the four champions registered and the risk
    model's warnings scored into ``alerts``."""
    from bench.server import BIN, run

    options = ["--data-dir", str(data_dir), "--key-file", str(data_dir / "keys.json"), "--quiet"]
    if not (data_dir / "lodestar.duckdb").exists():
        run([str(BIN / "lodestar"), "demo", *options, "--scale", str(scale)])
    versions = _champions(data_dir)
    if "procurement-risk" not in versions:
        module = [sys.executable, "-m", "training.procurement_risk"]
        run([*module, "train", *options, "--min-improvement", "0.0"])
        run([*module, "score", "--store-write", *options])
    if "supplier-esg" not in versions:
        run([sys.executable, "-m", "training.supplier_esg", "train", *options])
    if "mastery" not in versions:
        run([sys.executable, "-m", "training.mastery", "train", *options])
    if "study-recommender" not in versions:
        command = [sys.executable, "-m", "training.recommender", "train", *options]
        run([*command, "--sim-weeks", "0"])


def _champions(data_dir: Path) -> set[str]:
    """The models of ``MODELS`` with a champion in the installation's registry."""
    import mlflow
    from mlflow.exceptions import MlflowException

    database = data_dir / "mlflow.db"
    if not database.exists():
        return set()
    uri = f"sqlite:///{database}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = set()
    for name in MODELS:
        try:
            client.get_model_version_by_alias(name, "champion")
        except MlflowException:
            continue
        found.add(name)
    return found


def known_ids_of(store: Any, personal: Any) -> dict[str, str]:
    """Real ids of the installation for the routes' path parameters: a member's employee
    number (the member caller's own), an alert, a supplier and a tender with bids."""
    row = store.query("SELECT employee_no_enc FROM members ORDER BY member_key LIMIT 1")
    employee_no = personal.cipher.decrypt(row["employee_no_enc"][0], column="employee_no_enc")
    ids = {"employee_no": str(employee_no)}
    alerts = store.query("SELECT alert_id FROM alerts ORDER BY alert_id LIMIT 1")
    if len(alerts):
        ids["alert_id"] = str(alerts["alert_id"][0])
    bids = store.query(
        "SELECT ocid, tenderer_ids[1] AS supplier_id FROM bids "
        "WHERE status = 'valid' AND len(tenderer_ids) > 0 ORDER BY ocid LIMIT 1"
    )
    if len(bids):
        ids["ocid"] = str(bids["ocid"][0])
        ids["supplier_id"] = str(bids["supplier_id"][0])
    return ids


def route_callers_for(all_callers: list[Caller]) -> Callable[[str], list[Caller]]:
    """Public routes are sent without a token only; the others by every caller."""
    anonymous = [c for c in all_callers if c.name == ANONYMOUS]
    return lambda path: all_callers if path.startswith(AUTHENTICATED_PREFIX) else anonymous


def logged_request_ids(store: Any) -> set[str]:
    return set(store.query("SELECT request_id FROM audit_log")["request_id"])


def report(
    figures: Mapping[str, RouteFigures],
    failures: list[DistinctFailure],
    missing: list[Outcome],
    *,
    sent_audited: int,
    logged_during_run: int,
    cases_per_route: int,
    seconds_taken: float,
    scale: float,
) -> str:
    ok = not failures and not missing
    thin = [r for r, f in figures.items() if f.cases < cases_per_route]
    body = [
        f"Scale-{scale:g} demo installation, the four champions loaded; one uvicorn worker on "
        f"127.0.0.1, one client. Budget {cases_per_route:,} fuzzed cases per route shared among "
        f"its callers (each role's token and no token; public routes no token only), plus the "
        f"coverage phase's cases; derandomised. {sum(f.cases for f in figures.values()):,} "
        f"requests in {seconds_taken:.0f} s. Result: {'**pass**' if ok else '**fail**'}.",
        "",
        route_table(figures),
        "",
    ]
    if thin:
        body.append(
            "Routes under the budget have fewer distinct inputs than it (a route without "
            "parameters has one per caller), or ran out of time: "
            + ", ".join(f"`{r}`" for r in sorted(thin))
            + "."
        )
        body.append("")
    body += [
        f"Audit: {sent_audited:,} requests sent, "
        f"{logged_during_run:,} audit entries added during the run, "
        f"{len(missing):,} requests without an entry (matched by request id)."
        + ("" if not missing else "\n\n" + unaudited_summary(missing)),
        "",
        f"Distinct failures ({len(failures)}):",
        "",
        failure_list(failures),
    ]
    return "\n".join(body)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
    from bench.results import write_section
    from bench.server import environment, log, our_server
    from core.security import PersonalData
    from core.settings import Settings
    from serving.platform.auth import issue_token
    from store.database import Store

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/lodestar-fuzz"))
    parser.add_argument("--cases", type=int, default=2000, help="fuzzed cases per route")
    parser.add_argument("--seconds", type=float, default=1800.0, help="cap of the whole run")
    parser.add_argument("--scale", type=float, default=0.2, help="demo size if one is made")
    args = parser.parse_args()
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    installation(data_dir, args.scale)

    run_dir = data_dir / "fuzz-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    shutil.copy(data_dir / "lodestar.duckdb", run_dir / "lodestar.duckdb")
    settings = Settings(
        data_dir=data_dir, key_file=data_dir / "keys.json", store_path=run_dir / "lodestar.duckdb"
    )
    keyring = settings.keyring()
    with Store.open(settings, keyring, read_only=True) as store:
        known_ids = known_ids_of(store, PersonalData(keyring))
        logged_before = logged_request_ids(store)
    ttl = timedelta(seconds=args.seconds + 3600)
    all_callers = callers(lambda s, r: issue_token(keyring, s, r, ttl), known_ids["employee_no"])

    import requests
    import schemathesis

    env = environment(data_dir, LODESTAR_STORE_PATH=str(settings.store_path), **fuzz_environment())
    started = time.monotonic()
    with our_server(env, run_dir / "server.log", MODELS, startup_seconds=120) as port:
        base_url = f"http://127.0.0.1:{port}"
        log(f"server up on :{port}; fuzzing for at most {args.seconds:.0f} s")
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
        with requests.Session() as session:
            outcomes = fuzz_schema(
                schema,
                route_callers_for(all_callers),
                cases_per_route=args.cases,
                seconds=args.seconds,
                known_ids=known_ids,
                call_kwargs={"base_url": base_url, "session": session, "timeout": 60},
                progress=log,
            )
    seconds_taken = time.monotonic() - started
    with Store.open(settings, keyring, read_only=True) as store:
        logged = logged_request_ids(store)
    missing = unaudited(outcomes, logged)
    figures = figures_by_route(outcomes)
    body = report(
        figures,
        distinct_failures(outcomes),
        missing,
        sent_audited=len(audited_request_ids(outcomes)),
        logged_during_run=len(logged - logged_before),
        cases_per_route=args.cases,
        seconds_taken=seconds_taken,
        scale=_scale_of(data_dir, args.scale),
    )
    print(body)
    write_section(SECTION, body)


def _scale_of(data_dir: Path, default: float) -> float:
    manifest = data_dir / "world" / "manifest.json"
    if not manifest.exists():
        return default
    config = json.loads(manifest.read_text(encoding="utf-8")).get("config", {})
    return float(config.get("scale", default))


if __name__ == "__main__":
    main()
