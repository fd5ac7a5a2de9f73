"""A tiny procurement world for the console tests: one warning on a tender with three bids
(two of its bidders share a telephone), a priced item, two amendments (one after the
decision date), its category's earlier prices, an ingestion run with quarantined
records, and a console user per role."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pandas as pd

from core.security import PersonalData
from serving.console.users import put_user
from serving.settings import ServiceSettings
from store.database import Store

OCID = "ocds-lodestar-2025-000042"
ALERT_ID = hashlib.sha256(b"procurement-risk|1|" + OCID.encode()).hexdigest()
OTHER_ALERT_ID = hashlib.sha256(b"procurement-risk|1|other").hexdigest()
CATEGORY = "C-PIPE-01"
DECIDED = datetime(2025, 3, 10, 8, 0)
# user name, role, password (the member's user name is their employee number, in MEMBERS)
USERS = [
    ("audit.zhao", "auditor", "correct horse battery"),
    ("E1001", "member", "member password 1"),
    ("buyer.wang", "procurement_manager", "manager password 1"),
    ("esg.liu", "esg_analyst", "analyst password 1"),
    ("E2001", "party_officer", "officer password 1"),
    ("sec.wang", "security_auditor", "security password 1"),
    ("admin.li", "admin", "admin password 12"),
]
# each role's console pages (its home first); every other role is refused them
ROLE_PAGES = {
    "auditor": ["/console/alerts"],
    "member": ["/console/me"],
    "procurement_manager": ["/console/tenders"],
    "esg_analyst": ["/console/suppliers", "/console/esg-report"],
    "party_officer": ["/console/branch"],
    "security_auditor": ["/console/audit-log"],
    "admin": ["/console/admin"],
}
USER_OF_ROLE = {role: name for name, role, _ in USERS}
PASSWORDS = {name: password for name, _, password in USERS}


def alert_row(alert_id: str, ocid: str, level: str, probability: float) -> dict[str, object]:
    return {
        "alert_id": alert_id,
        "ocid": ocid,
        "decision_date": DECIDED,
        "buyer_id": "BUY-16",
        "supplier_ids": ["SUP-00004"],
        "probability": probability,
        "unsupervised_score": 0.7,
        "warning_level": level,
        "red_flags": json.dumps(
            [{"code": "R024", "values": {"winning_bid": 31778.0, "second_bid": 31800.0}}]
        ),
        "reasons": json.dumps(
            [
                {
                    "feature": "price_to_category_median",
                    "value": 1.9,
                    "contribution": 0.8,
                    "direction": "raises",
                    "sentence_en": "The unit price is 1.9 times its category's median.",
                    "sentence_zh": "单价为同类中位数的 1.9 倍。",
                }
            ]
        ),
        "model_name": "procurement-risk",
        "model_version": "1",
        "scored_at": DECIDED,
        "status": "open",
    }


def seed_console_world(settings: ServiceSettings) -> None:
    keyring = settings.keyring()
    personal = PersonalData(keyring)
    with Store.open(settings, keyring) as store:
        store.insert_new(
            "alerts",
            pd.DataFrame(
                [
                    alert_row(ALERT_ID, OCID, "red", 0.91),
                    alert_row(OTHER_ALERT_ID, "other", "yellow", 0.2),
                ]
            ),
        )
        past = [f"ocds-past-{i}" for i in range(12)]
        store.insert_new(
            "processes",
            pd.DataFrame(
                [{"ocid": OCID, "release_date": DECIDED, "buyer_id": "BUY-16"}]
                + [
                    {"ocid": ocid, "release_date": DECIDED - timedelta(days=20 * (i + 1))}
                    for i, ocid in enumerate(past)
                ]
            ),
        )
        store.insert_new(
            "items",
            pd.DataFrame(
                [
                    {
                        "ocid": ocid,
                        "item_id": "1",
                        "classification_id": CATEGORY,
                        "unit_value_amount": price,
                        "unit_value_currency": "CNY",
                        "quantity": 10.0,
                    }
                    for ocid, price in [(OCID, 190.0)]
                    + [(ocid, 95.0 + i) for i, ocid in enumerate(past)]
                ]
            ),
        )
        store.insert_new(
            "bids",
            pd.DataFrame(
                [
                    {
                        "ocid": OCID,
                        "bid_id": f"BID-0{i}",
                        "status": "valid",
                        "value_amount": amount,
                        "value_currency": "CNY",
                        "tenderer_ids": [supplier],
                    }
                    for i, (amount, supplier) in enumerate(
                        [(31778.0, "SUP-00004"), (31800.0, "SUP-00978"), (33268.0, "SUP-00012")]
                    )
                ]
            ),
        )
        shared_phone = personal.pseudonymiser.fingerprint("phone", "0571-8800 1234")
        store.insert_new(
            "suppliers",
            pd.DataFrame(
                [
                    {
                        "supplier_id": "SUP-00004",
                        "name": "华东管业",
                        "phone_fingerprint": shared_phone,
                    },
                    {
                        "supplier_id": "SUP-00978",
                        "name": "浙江管材",
                        "phone_fingerprint": shared_phone,
                    },
                    {"supplier_id": "SUP-00012", "name": "江南物资", "phone_fingerprint": None},
                ]
            ),
        )
        store.insert_new(
            "amendments",
            pd.DataFrame(
                [
                    {
                        "ocid": OCID,
                        "scope": "tender",
                        "parent_id": "",
                        "amendment_id": "AMD-T1",
                        "amendment_date": DECIDED - timedelta(days=12),
                        "rationale": "交货期延长",
                        "description": "delivery window moved",
                    },
                    {
                        "ocid": OCID,
                        "scope": "contract",
                        "parent_id": "CON-1",
                        "amendment_id": "AMD-C1",
                        "amendment_date": DECIDED + timedelta(days=40),
                        "rationale": "数量增加",
                        "description": "quantity raised by 30%",
                    },
                ]
            ),
        )
        store.insert_new(
            "ingest_runs",
            pd.DataFrame(
                [
                    {
                        "run_id": "run-1",
                        "reader": "ocds",
                        "source_file": "releases.jsonl",
                        "source_sha256": "0" * 64,
                        "records_in": 15,
                        "accepted": 13,
                        "quarantined": 2,
                        "new_rows": 13,
                        "started_at": DECIDED,
                        "seconds": 1.5,
                    }
                ]
            ),
        )
        store.insert_new(
            "quarantine",
            pd.DataFrame(
                [
                    {
                        "reader": "ocds",
                        "source_file": "releases.jsonl",
                        "source_sha256": "0" * 64,
                        "source_line": line,
                        "reason": "tender.value.amount is negative",
                        "record_enc": None,
                        "quarantined_at": DECIDED,
                    }
                    for line in (4, 9)
                ]
            ),
        )
        _seed_mandatory_study(store, personal)
        for name, role, password in USERS:
            put_user(store, personal, name, role, password)


def put_users(settings: ServiceSettings, users: list[tuple[str, str, str]]) -> None:
    """Console users (user name, role, password) in ``settings``'s store (not open elsewhere)."""
    keyring = settings.keyring()
    personal = PersonalData(keyring)
    with Store.open(settings, keyring) as store:
        for name, role, password in users:
            put_user(store, personal, name, role, password)


def month_starts(now: datetime) -> tuple[datetime, datetime]:
    """The first moments (naive UTC) of ``now``'s month and of the month before."""
    this = datetime(now.year, now.month, 1)
    last = (this - timedelta(days=1)).replace(day=1)
    return this, last


# content id, title, months back (0 this month, 1 last month); E1001 completes the first and
# the third, the third a month late (so it stays missed), and passes the quiz
MANDATORY_ITEMS = [
    ("MAND-1", "廉洁从业若干规定", 0),
    ("MAND-2", "招标投标法实施条例测验", 0),
    ("MAND-3", "安全生产法要点", 1),
    ("MAND-4", "党章学习", 1),
]


def _seed_mandatory_study(store: Store, personal: PersonalData) -> None:
    this, last = month_starts(datetime.now(UTC).replace(tzinfo=None))
    month = {0: this.strftime("%Y-%m"), 1: last.strftime("%Y-%m")}
    store.insert_new(
        "content",
        pd.DataFrame(
            [
                {
                    "content_id": content_id,
                    "title": title,
                    "format": "quiz" if "测验" in title else "article",
                    "minutes": 12.0,
                    "mandatory_month": month[back],
                }
                for content_id, title, back in MANDATORY_ITEMS
            ]
        ),
    )
    member = personal.member_key("E1001")
    statements = [
        ("MAND-1", "completed", True, this + timedelta(hours=1)),
        ("MAND-4", "completed", True, last + timedelta(hours=2)),
        ("MAND-3", "completed", True, this + timedelta(hours=3)),  # after its month
        ("MAND-2", "passed", None, this + timedelta(hours=4)),
    ]
    store.insert_new(
        "statements",
        pd.DataFrame(
            [
                {
                    "statement_id": f"00000000-0000-4000-8000-00000000000{i}",
                    "member_key": member,
                    "verb": verb,
                    "content_id": content_id,
                    "completion": completion,
                    "timestamp": moment,
                }
                for i, (content_id, verb, completion, moment) in enumerate(statements)
            ]
        ),
    )
