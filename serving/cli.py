"""``lodestar-serve`` / ``python -m serving``: run the service, or mint a token.

    python -m serving run [--host H] [--port P] [--data-dir D] [--key-file K]
    python -m serving token --subject E1001 --role member [--ttl-minutes 60]
    python -m serving demo-credentials   # console users and tokens for the demo's roles

Settings come from ``LODESTAR_*`` environment variables; the options override them.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.settings import Keyring, MissingSecretError, owner_only_files
from serving.platform.auth import ROLES, issue_token
from serving.settings import ServiceSettings


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket with ``TCP_NODELAY`` set.

    Linux copies ``TCP_NODELAY`` from the listening socket to the connections it accepts.
    (asyncio also sets it on every TCP transport it makes, so this is belt and braces.)
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _settings(args: argparse.Namespace) -> ServiceSettings:
    overrides: dict[str, Any] = {}
    for name in ("data_dir", "key_file", "host", "port", "workers"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return ServiceSettings(**overrides)


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from serving.app import create_app

    settings = _settings(args)
    if settings.workers != 1:
        print(
            "lodestar-serve: workers must be 1: DuckDB allows one writing process per store "
            "file and every request writes the audit log. Run more instances on separate "
            "stores, or behind one instance per store.",
            file=sys.stderr,
        )
        return 2
    sock = listening_socket(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    print(f"Lodestar serving on http://{shown_host}:{port}", flush=True)
    config = uvicorn.Config(
        create_app(settings),
        log_level=settings.log_level,
        # The audit log records every authenticated request; an access log would also
        # write raw paths, employee numbers included, to stdout.
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _token(args: argparse.Namespace) -> int:
    settings = _settings(args)
    minutes = settings.token_ttl_minutes if args.ttl_minutes is None else args.ttl_minutes
    ttl = timedelta(minutes=minutes)
    try:
        keyring = settings.keyring()
        token = issue_token(keyring, args.subject, args.role, ttl)
    except (MissingSecretError, ValueError) as error:
        print(f"lodestar-serve: {error}", file=sys.stderr)
        return 2
    print(token)
    return 0


DEMO_STAFF = (
    ("demo-admin", "admin"),
    ("demo-security-auditor", "security_auditor"),
    ("demo-auditor", "auditor"),
    ("demo-manager", "procurement_manager"),
    ("demo-esg", "esg_analyst"),
    ("demo-party-officer", "party_officer"),
    ("demo-platform", "integration"),
)


def _first_demo_member(settings: ServiceSettings) -> str | None:
    """The first employee number of the demo world's staff register, if there is one."""
    import csv

    register = settings.resolved_world_dir / "learning" / "members.csv"
    if not register.exists():
        return None
    with register.open(encoding="utf-8-sig", newline="") as handle:
        first = next(csv.DictReader(handle), None)
    return first.get("employee_no") if first else None


def _demo_console_users(
    settings: ServiceSettings, keyring: Keyring, people: list[tuple[str, str]]
) -> dict[str, str]:
    """Create (or reset) a console user for each demo person but the machine client, with a
    fresh random password; {user name: password}. Empty when the store cannot be opened for
    writing (a running service holds it): tokens are printed all the same."""
    import duckdb

    from core.security import PersonalData
    from serving.console.users import new_password, put_user
    from store.database import Store, StoreError

    passwords = {subject: new_password() for subject, role in people if role != "integration"}
    personal = PersonalData(keyring)
    try:
        with Store.open(settings, keyring) as store:
            for subject, role in people:
                if subject in passwords:
                    put_user(store, personal, subject, role, passwords[subject])
    except (StoreError, duckdb.Error, OSError) as error:
        print(f"lodestar-serve: console users not created ({error})", file=sys.stderr)
        return {}
    return passwords


def _demo_credentials(args: argparse.Namespace) -> int:
    """Print demo tokens (and keep a copy under the data folder, which git ignores)."""
    settings = _settings(args)
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    try:
        keyring = settings.keyring()
    except MissingSecretError as error:
        print(f"lodestar-serve: {error}", file=sys.stderr)
        return 2
    people = list(DEMO_STAFF)
    member = _first_demo_member(settings)
    if member:
        people.append((member, "member"))
    passwords = _demo_console_users(settings, keyring, people)
    lines = [
        f"Demo credentials (tokens valid {settings.token_ttl_minutes} minutes; the password "
        "signs in to the console):",
        f"  {'role':<20} {'user name':<22} {'password':<18} token",
    ]
    for subject, role in people:
        password = passwords.get(subject, "-")
        token = issue_token(keyring, subject, role, ttl)
        lines.append(f"  {role:<20} {subject:<22} {password:<18} {token}")
    url = f"http://{settings.host}:{settings.port}"
    lines += [
        f"Console: {url}/console (people sign in with the user name and password above)",
        "Try:",
        f"  curl -s {url}/readyz",
        f'  curl -s -H "Authorization: Bearer <admin token>" {url}/v1/store/summary',
        f"  LODESTAR_TOKEN=<integration token> lodestar ingest --service-url {url} "
        "--kind ocds releases.jsonl   (sent to the running service)",
    ]
    if member:
        lines.append(
            f'  curl -s -H "Authorization: Bearer <member token>" {url}/v1/members/{member}'
        )
    text = "\n".join(lines)
    print(text)
    target = settings.data_dir / "demo-credentials.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text + "\n", encoding="utf-8")
    target.chmod(0o600)
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="overrides LODESTAR_DATA_DIR")
    common.add_argument("--key-file", type=Path, help="overrides LODESTAR_KEY_FILE")

    parser = argparse.ArgumentParser(
        prog="lodestar-serve", description="Run the Lodestar HTTP service, or mint a bearer token."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", parents=[common], help="serve HTTP with uvicorn")
    run.add_argument("--host", help="overrides LODESTAR_HOST (default 127.0.0.1)")
    run.add_argument("--port", type=int, help="overrides LODESTAR_PORT; 0 picks a free port")
    run.add_argument("--workers", type=int, help="overrides LODESTAR_WORKERS (must be 1)")
    run.set_defaults(handler=_run)

    token = commands.add_parser("token", parents=[common], help="print a bearer token")
    token.add_argument("--subject", required=True, help="employee number or user name")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--ttl-minutes", type=int, help="default LODESTAR_TOKEN_TTL_MINUTES")
    token.set_defaults(handler=_token)

    demo = commands.add_parser(
        "demo-credentials",
        parents=[common],
        help="create console users and print their passwords and tokens for the demo's roles",
    )
    demo.set_defaults(handler=_demo_credentials)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    with owner_only_files():
        result: int = handler(args)
    return result
