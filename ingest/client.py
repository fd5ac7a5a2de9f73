"""Sending a file to the running service's ingest route (``POST /v1/ingest/{kind}``), with
the standard library's HTTP client: the file is streamed as the body, never read whole.

``lodestar ingest`` uses it when a service answers at ``Settings.service_url`` and a token is
given (``--token`` or ``LODESTAR_TOKEN``): while the service runs it holds the store (DuckDB
allows one writing process), so the file goes through it.
"""

from __future__ import annotations

import http.client
import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from ingest.run import IngestReport

PROBE_SECONDS = 1.0
SEND_BLOCK_BYTES = 1 << 20
ANSWER_SECONDS = 3600.0  # a large file is read and stored before the answer comes


class ServiceIngestError(RuntimeError):
    """The service refused the file or could not be reached mid-send."""


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServiceIngestError(f"service URL {url!r} is not http(s)://host[:port]")
    factory = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = factory(parts.hostname, parts.port, timeout=timeout, blocksize=SEND_BLOCK_BYTES)
    return connection, parts.path.rstrip("/")


def service_answers(url: str, *, timeout: float = PROBE_SECONDS) -> bool:
    """Whether a service answers ``GET /healthz`` with 200 at ``url``."""
    try:
        connection, prefix = _connection(url, timeout)
    except ServiceIngestError:
        return False
    try:
        connection.request("GET", f"{prefix}/healthz")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def send_file(
    url: str, token: str, kind: str, path: Path, *, filename: str | None = None
) -> dict[str, Any]:
    """Post ``path`` to ``{url}/v1/ingest/{kind}?filename=<filename or its name>``; the
    service's answer
    (``serving.api.schemas.ingest.IngestOut`` as a dict). Raises ``ServiceIngestError`` with the
    service's error message on any answer but 200."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{kind}: no such file {path}")
    connection, prefix = _connection(url, ANSWER_SECONDS)
    name = quote(filename or path.name, safe="")
    target = f"{prefix}/v1/ingest/{quote(kind, safe='')}?filename={name}"
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/octet-stream",
        "Content-Length": str(path.stat().st_size),
    }
    try:
        with path.open("rb") as body:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
    except (OSError, http.client.HTTPException) as error:
        raise ServiceIngestError(f"sending {path.name} to {url} failed: {error}") from error
    finally:
        connection.close()
    try:
        answer: dict[str, Any] = json.loads(payload)
    except ValueError:
        answer = {}
    if response.status != 200:
        message = answer.get("error", {}).get("message") if answer else None
        raise ServiceIngestError(
            f"the service refused {path.name} ({response.status}): {message or 'no message'}"
        )
    return answer


def report_of(answer: dict[str, Any]) -> IngestReport:
    """The service's answer as the command line's report (printed the same way)."""
    return IngestReport(
        kind=str(answer["kind"]),
        source_file=str(answer["source_file"]),
        records_in=int(answer["records_in"]),
        accepted=int(answer["accepted"]),
        quarantined=int(answer["quarantined"]),
        new_rows=int(answer["new_rows"]),
        seconds=float(answer["seconds"]),
        encoding=answer.get("encoding"),
        warnings=Counter({str(k): int(v) for k, v in (answer.get("warnings") or {}).items()}),
        source_sha256=str(answer.get("source_sha256", "")),
        run_id=str(answer["run_id"]),
    )
