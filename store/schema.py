"""Every table of the store, with every column's type and data classification, in one place.

Classification follows GB/T 43697-2024 (``core``, ``important``, ``general``) and PIPL:
``personal`` is ``none``, ``personal`` or ``sensitive`` (party membership, political
affiliation and identity numbers are sensitive). A personal column is never stored in
plaintext: it is either a keyed pseudonym/fingerprint (``protection="pseudonym"``) or an
AES-GCM ciphertext (``protection="encrypted"``, BLOB, names ending in ``_enc``). Procurement
prices and bids are commercial secrets (``important``); the whole database file is encrypted
at rest on top of the column protection.

The DDL, the ingestion code and the data catalogue (``lodestar catalogue``) are all derived
from ``TABLES``; a test checks that no personal column is left unprotected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Level = Literal["core", "important", "general"]
PersonalClass = Literal["none", "personal", "sensitive"]
Protection = Literal["plain", "pseudonym", "encrypted"]


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    level: Level = "general"
    personal: PersonalClass = "none"
    protection: Protection = "plain"
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str
    key_index: bool = True
    """``key`` is the table's PRIMARY KEY (an ART index in DuckDB) when true. When false the
    key columns are only NOT NULL and the writers keep them unique (``Store.insert_new``, the
    ingestion's ``insert_new_returning``: an anti-join of each batch against the stored keys,
    safe because the store has one writing connection used by one thread at a time). For a
    large table keyed by random ids (xAPI statement UUIDs), every row inserted into the index
    lands in a random place of a tree larger than the caches, and a checkpoint rewrites the
    whole index; a hash anti-join reads the one key column instead."""

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")


def _c(name: str, sql_type: str, level: Level = "general", **kwargs: str) -> Column:
    return Column(name, sql_type, level, **kwargs)  # type: ignore[arg-type]


def _enc(
    name: str, personal: PersonalClass, description: str, level: Level = "important"
) -> Column:
    return Column(name, "BLOB", level, personal, "encrypted", description)


def _fp(name: str, description: str, personal: PersonalClass = "personal") -> Column:
    return Column(name, "VARCHAR", "important", personal, "pseudonym", description)


# Lineage columns every ingested table carries: where the record came from.
_LINEAGE = (
    _c("source_file", "VARCHAR", description="file name the record was read from"),
    _c("source_line", "BIGINT", description="1-based line (or row) in that file"),
    _c("ingested_at", "TIMESTAMP", description="UTC time of ingestion"),
)

_MONEY = "DOUBLE"  # amounts keep their currency in a sibling *_currency column; no conversion

PROCESSES = Table(
    "processes",
    (
        _c("ocid", "VARCHAR", "important", description="OCDS contracting process id"),
        _c("release_id", "VARCHAR", description="id of the (compiled) release read"),
        _c("release_date", "TIMESTAMP", description="date of the latest release merged"),
        _c("buyer_id", "VARCHAR", "important"),
        _c("buyer_name", "VARCHAR", "important"),
        _c("title", "VARCHAR", "important"),
        _c("status", "VARCHAR"),
        _c("procurement_method", "VARCHAR", description="open, selective, limited, direct"),
        _c("procurement_method_details", "VARCHAR", description="e.g. 公开招标, 询价, 单一来源"),
        _c("main_procurement_category", "VARCHAR"),
        _c("tender_value_amount", _MONEY, "important", description="pre-tender estimate"),
        _c("tender_value_currency", "VARCHAR"),
        _c("tender_period_start", "TIMESTAMP"),
        _c("tender_period_end", "TIMESTAMP", description="bid deadline"),
        _c("award_period_start", "TIMESTAMP"),
        _c("award_period_end", "TIMESTAMP"),
        _c("number_of_tenderers", "INTEGER"),
        *_LINEAGE,
    ),
    key=("ocid",),
    description="one row per contracting process (OCDS compiled release)",
)

LOTS = Table(
    "lots",
    (
        _c("ocid", "VARCHAR", "important"),
        _c("lot_id", "VARCHAR"),
        _c("title", "VARCHAR", "important"),
        _c("status", "VARCHAR"),
        _c("value_amount", _MONEY, "important"),
        _c("value_currency", "VARCHAR"),
        *_LINEAGE,
    ),
    key=("ocid", "lot_id"),
    description="tender.lots (lots extension)",
)

ITEMS = Table(
    "items",
    (
        _c("ocid", "VARCHAR", "important"),
        _c("item_id", "VARCHAR"),
        _c("description", "VARCHAR", "important"),
        _c("classification_scheme", "VARCHAR"),
        _c("classification_id", "VARCHAR", description="material category code"),
        _c("classification_description", "VARCHAR"),
        _c("quantity", "DOUBLE"),
        _c("unit_name", "VARCHAR"),
        _c("unit_value_amount", _MONEY, "important"),
        _c("unit_value_currency", "VARCHAR"),
        _c("related_lot", "VARCHAR"),
        *_LINEAGE,
    ),
    key=("ocid", "item_id"),
    description="tender.items: what is bought, with unit prices where given",
)

BIDS = Table(
    "bids",
    (
        _c("ocid", "VARCHAR", "important"),
        _c("bid_id", "VARCHAR"),
        _c("bid_date", "TIMESTAMP"),
        _c("status", "VARCHAR", description="valid, disqualified, pending, withdrawn"),
        _c("value_amount", _MONEY, "core", description="bid price: a commercial secret"),
        _c("value_currency", "VARCHAR"),
        _c("tenderer_ids", "VARCHAR[]", "important"),
        _c("related_lots", "VARCHAR[]"),
        *_LINEAGE,
    ),
    key=("ocid", "bid_id"),
    description="bids.details (bids extension)",
)

AWARDS = Table(
    "awards",
    (
        _c("ocid", "VARCHAR", "important"),
        _c("award_id", "VARCHAR"),
        _c("award_date", "TIMESTAMP"),
        _c("status", "VARCHAR"),
        _c("value_amount", _MONEY, "important"),
        _c("value_currency", "VARCHAR"),
        _c("supplier_ids", "VARCHAR[]", "important"),
        _c("related_lots", "VARCHAR[]"),
        _c("related_bid", "VARCHAR"),
        *_LINEAGE,
    ),
    key=("ocid", "award_id"),
    description="awards",
)

CONTRACTS = Table(
    "contracts",
    (
        _c("ocid", "VARCHAR", "important"),
        _c("contract_id", "VARCHAR"),
        _c("award_id", "VARCHAR"),
        _c("status", "VARCHAR"),
        _c("date_signed", "TIMESTAMP"),
        _c("value_amount", _MONEY, "important", description="current value, after amendments"),
        _c("value_currency", "VARCHAR"),
        _c("period_start", "TIMESTAMP"),
        _c("period_end", "TIMESTAMP"),
        *_LINEAGE,
    ),
    key=("ocid", "contract_id"),
    description="contracts",
)

AMENDMENTS = Table(
    "amendments",
    (
        _c("ocid", "VARCHAR", "important"),
        _c("scope", "VARCHAR", description="tender or contract"),
        _c("parent_id", "VARCHAR", description="contract id for contract amendments, else ''"),
        _c("amendment_id", "VARCHAR"),
        _c("amendment_date", "TIMESTAMP"),
        _c("rationale", "VARCHAR", "important"),
        _c("description", "VARCHAR", "important"),
        *_LINEAGE,
    ),
    key=("ocid", "scope", "parent_id", "amendment_id"),
    description="tender.amendments and contracts[].amendments",
)

MILESTONES = Table(
    "milestones",
    (
        _c("ocid", "VARCHAR", "important"),
        _c("contract_id", "VARCHAR"),
        _c("milestone_id", "VARCHAR"),
        _c("milestone_type", "VARCHAR", description="delivery, acceptance (quality) ..."),
        _c("code", "VARCHAR"),
        _c("status", "VARCHAR", description="scheduled, met, notMet, partiallyMet"),
        _c("due_date", "TIMESTAMP"),
        _c("date_met", "TIMESTAMP"),
        _c("description", "VARCHAR"),
        *_LINEAGE,
    ),
    key=("ocid", "contract_id", "milestone_id"),
    description="contracts[].implementation.milestones: deliveries and quality acceptance",
)

TRANSACTIONS = Table(
    "transactions",
    (
        _c("ocid", "VARCHAR", "important"),
        _c("contract_id", "VARCHAR"),
        _c("transaction_id", "VARCHAR"),
        _c("transaction_date", "TIMESTAMP"),
        _c("value_amount", _MONEY, "important"),
        _c("value_currency", "VARCHAR"),
        _c("payer_id", "VARCHAR"),
        _c("payee_id", "VARCHAR"),
        *_LINEAGE,
    ),
    key=("ocid", "contract_id", "transaction_id"),
    description="contracts[].implementation.transactions: payments",
)

PARTIES = Table(
    "parties",
    (
        _c("ocid", "VARCHAR", "important"),
        _c("party_id", "VARCHAR"),
        _c("name", "VARCHAR", "important", description="organisation name"),
        _c("roles", "VARCHAR[]"),
        _c("identifier_scheme", "VARCHAR"),
        _c("identifier_id", "VARCHAR"),
        _c("address_locality", "VARCHAR"),
        _c("address_region", "VARCHAR"),
        _enc("contact_name_enc", "personal", "contact point name"),
        _enc("contact_phone_enc", "personal", "contact point telephone"),
        _fp("contact_phone_fingerprint", "HMAC of the normalised telephone, for matching"),
        *_LINEAGE,
    ),
    key=("ocid", "party_id"),
    description="parties as named in each process",
)

AuditScheme = Literal[
    "bid_rigging",
    "price_inflation",
    "split_purchase",
    "single_source_abuse",
    "related_bidders",
    "contract_inflation",
    "other",
]
"""What a confirmed audit finding names as done (``audit_outcomes.scheme``; empty for none)."""
AUDIT_SCHEMES: tuple[str, ...] = get_args(AuditScheme)

AUDIT_OUTCOMES = Table(
    "audit_outcomes",
    (
        _c("ocid", "VARCHAR", "important"),
        _c("finding", "VARCHAR", "core", description="confirmed, dismissed, needs_information"),
        _c("scheme", "VARCHAR", "core", description="bid_rigging, price_inflation, ... or ''"),
        _c("confirmed_at", "DATE", description="when the finding became known (label time)"),
        _c("origin", "VARCHAR", description="file or review"),
        *_LINEAGE,
    ),
    key=("ocid", "finding", "scheme", "confirmed_at"),
    description="audit findings: partial, delayed labels",
)

MEMBERS = Table(
    "members",
    (
        _fp("member_key", "HMAC pseudonym of the employee number", "personal"),
        _enc("employee_no_enc", "personal", "employee number (for re-identification by admins)"),
        _enc("name_enc", "personal", "full name"),
        _enc("phone_enc", "personal", "mobile telephone"),
        _enc("party_member_enc", "sensitive", "party membership (sensitive personal data)"),
        _enc("party_branch_enc", "sensitive", "party branch name"),
        _fp("branch_key", "HMAC of the party branch, for branch aggregates", "sensitive"),
        _c("role", "VARCHAR", description="buyer, warehouse_keeper, finance, auditor, ..."),
        _c("unit", "VARCHAR"),
        _c("shift_pattern", "VARCHAR", description="day, three_shift, four_crew_three_shift"),
        _c("crew", "VARCHAR", description="crew letter within the rotation"),
        _c("joined_on", "DATE"),
        *_LINEAGE,
    ),
    key=("member_key",),
    description="members and staff, pseudonymised",
)

MEETING_ATTENDANCE = Table(
    "meeting_attendance",
    (
        _c("meeting_id", "VARCHAR"),
        _fp("branch_key", "HMAC of the party branch that held the meeting", "sensitive"),
        _fp("member_key", "HMAC pseudonym of the member expected", "personal"),
        _c("kind", "VARCHAR", description="themed_party_day, party_lecture, branch_meeting, ..."),
        _c("starts_at", "TIMESTAMP", description="local wall-clock time (Asia/Shanghai)"),
        _c("minutes", "INTEGER"),
        _c("mode", "VARCHAR", description="in_person, online, catch_up"),
        _c("attended", "BOOLEAN", "important"),
        *_LINEAGE,
    ),
    key=("meeting_id", "member_key"),
    description="branch meetings (三会一课, themed party days): who was expected and who came",
)

KNOWLEDGE_POINTS = Table(
    "knowledge_points",
    (
        _c("kp_id", "VARCHAR"),
        _c("name_zh", "VARCHAR"),
        _c("name_en", "VARCHAR"),
        _c("domain", "VARCHAR"),
        *_LINEAGE,
    ),
    key=("kp_id",),
    description="knowledge points the catalogue and quizzes refer to",
)

CONTENT = Table(
    "content",
    (
        _c("content_id", "VARCHAR"),
        _c("title", "VARCHAR"),
        _c("knowledge_points", "VARCHAR[]"),
        _c("format", "VARCHAR", description="video, article, case, quiz, live"),
        _c("minutes", "DOUBLE", description="expected study time"),
        _c("difficulty", "DOUBLE", description="0 (easy) to 1 (hard)"),
        _c("mandatory_month", "VARCHAR", description="YYYY-MM when mandatory, else null"),
        _c("theme", "VARCHAR"),
        _c("published_on", "DATE"),
        *_LINEAGE,
    ),
    key=("content_id",),
    description="content catalogue",
)

STATEMENTS = Table(
    "statements",
    (
        _c("statement_id", "VARCHAR", description="xAPI statement id (UUID)"),
        _fp("member_key", "HMAC pseudonym of the actor's account name", "personal"),
        _c("verb", "VARCHAR", description="short verb: launched, experienced, completed, ..."),
        _c("verb_id", "VARCHAR"),
        _c("object_id", "VARCHAR"),
        _c("content_id", "VARCHAR", description="catalogue id the object belongs to, if any"),
        _c("activity_type", "VARCHAR"),
        _c("score_scaled", "DOUBLE", description="-1..1"),
        _c("success", "BOOLEAN"),
        _c("completion", "BOOLEAN"),
        _c("duration_seconds", "DOUBLE"),
        _c("knowledge_points", "VARCHAR[]"),
        _c(
            "item_difficulty", "DOUBLE", description="quiz item difficulty if the platform sends it"
        ),
        _c("timestamp", "TIMESTAMP", description="UTC"),
        *_LINEAGE,
    ),
    key=("statement_id",),
    description="xAPI 1.0.3 statements (study events)",
    key_index=False,
)

CHECK_IN_JUDGEMENTS = Table(
    "check_in_judgements",
    (
        _c("run_id", "VARCHAR", description="MLflow run of the mastery training that judged"),
        _c("model_version", "VARCHAR", description="registered mastery model version used"),
        _c("window_start", "TIMESTAMP", description="UTC; first event of the window judged"),
        _c("window_end", "TIMESTAMP", description="UTC; the window ends before it"),
        _fp("member_key", "HMAC pseudonym of the member judged", "personal"),
        _c("check_in_score", "DOUBLE", "important", description="0..1, higher = more suspect"),
        _c("flagged", "BOOLEAN", "important", description="judged check-in without absorption"),
        _c("logged_minutes", "DOUBLE", description="study minutes logged in the window"),
        _c("mastery_gain", "DOUBLE", description="mean mastery change on the KPs studied"),
        _c("successes_per_hour", "DOUBLE", description="right answers per logged hour"),
        _c("answers", "BIGINT", description="answers given in the window"),
        _c("reasons", "VARCHAR", "important", description="JSON list of what fired, in English"),
        _c("judged_at", "TIMESTAMP", description="UTC time the row was written"),
    ),
    key=("run_id", "member_key"),
    description="per-member check-in judgements of a mastery training run (never in MLflow)",
)

SUPPLIERS = Table(
    "suppliers",
    (
        _c("supplier_id", "VARCHAR"),
        _c("name", "VARCHAR", description="company name"),
        _c("credit_code", "VARCHAR", description="unified social credit code"),
        _enc("legal_representative_enc", "personal", "legal representative (a natural person)"),
        _fp("legal_representative_fingerprint", "HMAC of the legal representative"),
        _enc("phone_enc", "personal", "contact telephone"),
        _fp("phone_fingerprint", "HMAC of the normalised telephone"),
        _c("address", "VARCHAR", description="registered business address"),
        _fp("address_fingerprint", "HMAC of the normalised address", "none"),
        _enc("bank_account_enc", "none", "bank account (commercial secret)", "core"),
        _fp("bank_account_fingerprint", "HMAC of the bank account", "none"),
        _c("categories", "VARCHAR[]", description="material categories supplied"),
        _c("ownership_type", "VARCHAR", description="not a criterion, by rule"),
        _c("region", "VARCHAR", description="not a criterion, by rule"),
        _c("registered_capital_cny", "DOUBLE", description="not a criterion, by rule"),
        _c("founded_on", "DATE", description="not a criterion, by rule"),
        _c("size_class", "VARCHAR", description="small, medium, large"),
        _c("tax_credit_grade", "VARCHAR", description="A, B, M, C, D"),
        _c("reported_emission_intensity", "DOUBLE", description="kg CO2e per CNY, if reported"),
        _c("registered_on", "DATE", description="date entered in the group's register"),
        *_LINEAGE,
    ),
    key=("supplier_id",),
    description="supplier register",
)

SUPPLIER_CERTIFICATIONS = Table(
    "supplier_certifications",
    (
        _c("supplier_id", "VARCHAR"),
        _c("cert_type", "VARCHAR", description="ISO14001, ISO45001, ISO50001, ISO9001, MA, KA ..."),
        _c("cert_no", "VARCHAR"),
        _c("category", "VARCHAR", description="material category a product mark covers"),
        _c("valid_from", "DATE"),
        _c("valid_to", "DATE"),
        _c("evidence_document", "VARCHAR", description="document reference; empty = no evidence"),
        *_LINEAGE,
    ),
    key=("supplier_id", "cert_type", "cert_no"),
    description="certifications, marks and licences with validity",
)

SUPPLIER_EVENTS = Table(
    "supplier_events",
    (
        _c("event_id", "VARCHAR"),
        _c("supplier_id", "VARCHAR"),
        _c("event_type", "VARCHAR", description="env_penalty, safety_accident, court_defaulter..."),
        _c("event_date", "DATE"),
        _c("severity", "VARCHAR", description="minor, serious, major; accident grade"),
        _c("deaths", "INTEGER"),
        _c("fine_cny", "DOUBLE"),
        _c("listed_until", "DATE", description="end of a listing (blacklist, debarment)"),
        _c("description", "VARCHAR"),
        _c("evidence_document", "VARCHAR"),
        *_LINEAGE,
    ),
    key=("event_id",),
    description="penalties, accidents, listings, disputes and findings, dated",
)

QUARANTINE = Table(
    "quarantine",
    (
        _c("reader", "VARCHAR"),
        _c("source_file", "VARCHAR"),
        _c("source_sha256", "VARCHAR", description="hash of the whole source file"),
        _c("source_line", "BIGINT"),
        _c("reason", "VARCHAR"),
        _enc("record_enc", "personal", "the rejected record as read (may hold personal data)"),
        _c("quarantined_at", "TIMESTAMP"),
    ),
    key=("reader", "source_sha256", "source_line"),
    description="records that failed validation, with the reason; nothing is dropped",
)

INGEST_RUNS = Table(
    "ingest_runs",
    (
        _c("run_id", "VARCHAR"),
        _c("reader", "VARCHAR"),
        _c("source_file", "VARCHAR"),
        _c("source_sha256", "VARCHAR"),
        _c("records_in", "BIGINT"),
        _c("accepted", "BIGINT"),
        _c("quarantined", "BIGINT"),
        _c("new_rows", "BIGINT", description="accepted rows not already stored"),
        _c("started_at", "TIMESTAMP"),
        _c("seconds", "DOUBLE"),
    ),
    key=("run_id",),
    description="one row per ingestion of one file: the counts that must add up",
)

AUDIT_LOG = Table(
    "audit_log",
    (
        _c("seq", "BIGINT", description="1, 2, 3 ... in order of writing"),
        _c("at", "TIMESTAMP"),
        _fp("subject_key", "HMAC pseudonym of the caller"),
        _c("role", "VARCHAR"),
        _c("action", "VARCHAR", description="HTTP method or command"),
        _c("resource", "VARCHAR", description="path read or written"),
        _c("status_code", "INTEGER"),
        _c("request_id", "VARCHAR"),
        _c("prev_hash", "VARCHAR"),
        _c("entry_hash", "VARCHAR", description="sha256 over prev_hash and this entry"),
    ),
    key=("seq",),
    description="append-only, hash-chained log of who read or changed what",
)

ALERTS = Table(
    "alerts",
    (
        _c("alert_id", "VARCHAR", description="stable: model name, version and ocid hashed"),
        _c("ocid", "VARCHAR", "important"),
        _c("decision_date", "TIMESTAMP", description="the date the process was scored as of"),
        _c("buyer_id", "VARCHAR", "important"),
        _c("supplier_ids", "VARCHAR[]", "important"),
        _c("probability", "DOUBLE", "core", description="calibrated probability of a finding"),
        _c("unsupervised_score", "DOUBLE", "core", description="anomaly score, 0..1"),
        _c("warning_level", "VARCHAR", "core", description="red, orange, yellow"),
        _c("red_flags", "VARCHAR", "core", description="JSON list of the red flags fired"),
        _c("reasons", "VARCHAR", "core", description="JSON list of the top reasons"),
        _c("model_name", "VARCHAR"),
        _c("model_version", "VARCHAR"),
        _c("scored_at", "TIMESTAMP"),
        _c("status", "VARCHAR", description="open, confirmed, dismissed, needs_information"),
    ),
    key=("alert_id",),
    description="procurement risk warnings from batch scoring",
)

REVIEWS = Table(
    "reviews",
    (
        _c("review_id", "VARCHAR"),
        _c("alert_id", "VARCHAR"),
        _c("ocid", "VARCHAR", "important"),
        _fp("reviewer_key", "HMAC pseudonym of the reviewer"),
        _c("verdict", "VARCHAR", "core", description="confirmed, dismissed, needs_information"),
        _c("scheme", "VARCHAR", "core"),
        _enc("comment_enc", "personal", "reviewer's comment (may name people)", "core"),
        _c("reviewed_at", "TIMESTAMP"),
    ),
    key=("review_id",),
    description="reviewers' verdicts on alerts; each also becomes an audit outcome",
)

TOKEN_REVOCATIONS = Table(
    "token_revocations",
    (
        _fp("subject_key", "HMAC pseudonym of the subject whose tokens are void"),
        _c("revoked_at", "TIMESTAMP", description="UTC; tokens issued at or before it are void"),
        _fp("revoked_by_key", "HMAC pseudonym of the administrator who revoked them"),
        _c("reason", "VARCHAR", description="lost_device, left, role_changed, compromised"),
    ),
    key=("subject_key", "revoked_at"),
    description="subjects whose earlier tokens no longer count (a lost phone, a leaver)",
)

CONSOLE_USERS = Table(
    "console_users",
    (
        _fp("user_key", "HMAC pseudonym of the user name (as the audit log names the subject)"),
        _enc("user_name_enc", "personal", "user name: a staff login or a member's employee number"),
        _c("role", "VARCHAR", description="the role the person signs in with"),
        _c("password_hash", "VARCHAR", "core", description="argon2id hash (PHC string)"),
        _c("failed_signins", "INTEGER", description="consecutive failed sign-ins"),
        _c("locked_until", "TIMESTAMP", description="UTC; sign-in is refused before it"),
        _c("password_set_at", "TIMESTAMP", description="UTC"),
    ),
    key=("user_key",),
    description="people who sign in to the web console with a password",
)

CONSOLE_SESSION_EPOCHS = Table(
    "console_session_epochs",
    (
        _fp("user_key", "HMAC pseudonym of the user name (as in console_users)"),
        _c("epoch", "INTEGER", description="sessions carrying a lower epoch are over"),
        _c("changed_at", "TIMESTAMP", description="UTC"),
        _c("reason", "VARCHAR", description="signout_everywhere, password, role, revoked"),
    ),
    key=("user_key",),
    description="the console session epoch of each user; bumped to end all their sessions",
)

CONSOLE_SIGNOUTS = Table(
    "console_signouts",
    (
        _c("session_digest", "VARCHAR", description="SHA-256 of the ended session's id"),
        _c("signed_out_at", "TIMESTAMP", description="UTC; rows older than any session go"),
    ),
    key=("session_digest",),
    description="console sessions ended by signing out (their cookies no longer count)",
)

FEEDBACK_KINDS: tuple[str, ...] = (
    "delivery_delay",
    "price",
    "quality",
    "process_blockage",
    "integrity_concern",
)
"""The kinds of a member's problem report (``feedback_reports.kind``)."""

FEEDBACK_REPORTS = Table(
    "feedback_reports",
    (
        _c("report_id", "VARCHAR"),
        _c("found_at", "TIMESTAMP", description="UTC; when the member met the problem (发现)"),
        _c("submitted_at", "TIMESTAMP", description="UTC; when it was reported (反馈)"),
        _fp(
            "reporter_key",
            "HMAC pseudonym of the reporter (namespace feedback_reporter, not member): lets "
            "the reporter find their own reports, joins nothing",
            "sensitive",
        ),
        _enc(
            "reporter_enc",
            "sensitive",
            "reporter's employee number; NULL when anonymous; revealed only with an audited reason",
            "core",
        ),
        _c("anonymous", "BOOLEAN"),
        _fp("branch_key", "HMAC of the reporter's party branch; NULL when anonymous", "sensitive"),
        _enc("text_enc", "personal", "the report's free text (Chinese; may name people)", "core"),
        _c("kind", "VARCHAR", "core", description="classified kind, one of FEEDBACK_KINDS"),
        _c("kind_probability", "DOUBLE", description="the classifier's probability of kind"),
        _c("kind_source", "VARCHAR", description="model name@version, keywords, or file"),
        _c("handler_kind", "VARCHAR", "core", description="kind confirmed by the handler (label)"),
        _c("ocid", "VARCHAR", "important", description="linked contracting process, if any"),
        _c("supplier_id", "VARCHAR", "important", description="linked supplier, if any"),
        _c("category", "VARCHAR", description="linked material category code, if any"),
        _c("route_role", "VARCHAR", description="the role that handles this kind"),
        _c("state", "VARCHAR", "core", description="found, reported, resolved, reviewed"),
        _c("due_at", "TIMESTAMP", description="UTC; submitted_at + the kind's service level"),
        _c("resolved_at", "TIMESTAMP", description="UTC; when it was first resolved (解决)"),
        _c("reviewed_at", "TIMESTAMP", description="UTC; when the review closed it (复盘)"),
        *_LINEAGE,
    ),
    key=("report_id",),
    description="members' problem reports on procurement (发现—反馈—解决—复盘)",
)

FEEDBACK_EVENTS = Table(
    "feedback_events",
    (
        _c("report_id", "VARCHAR"),
        _c("seq", "INTEGER", description="1 for the submission, then one per transition"),
        _c("from_state", "VARCHAR"),
        _c("to_state", "VARCHAR"),
        _c("moved_at", "TIMESTAMP", description="UTC"),
        _fp("actor_key", "HMAC pseudonym (subject namespace) of who moved it; '' for the reporter"),
        _c("actor_role", "VARCHAR"),
        _enc("note_enc", "personal", "the handler's note (may name people)", "core"),
    ),
    key=("report_id", "seq"),
    description="every state change of a problem report, with its time",
)

FEEDBACK_IDENTITY_ACCESS = Table(
    "feedback_identity_access",
    (
        _c("access_id", "VARCHAR"),
        _c("report_id", "VARCHAR"),
        _c("accessed_at", "TIMESTAMP", description="UTC"),
        _fp("actor_key", "HMAC pseudonym (subject namespace) of who read the identity"),
        _c("actor_role", "VARCHAR"),
        _enc("reason_enc", "personal", "the stated reason for reading the identity", "core"),
        _c("granted", "BOOLEAN", description="false when refused (anonymous report)"),
    ),
    key=("access_id",),
    description="every attempt to read a reporter's identity, with its reason",
)

TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        PROCESSES,
        LOTS,
        ITEMS,
        BIDS,
        AWARDS,
        CONTRACTS,
        AMENDMENTS,
        MILESTONES,
        TRANSACTIONS,
        PARTIES,
        AUDIT_OUTCOMES,
        MEMBERS,
        MEETING_ATTENDANCE,
        KNOWLEDGE_POINTS,
        CONTENT,
        STATEMENTS,
        CHECK_IN_JUDGEMENTS,
        SUPPLIERS,
        SUPPLIER_CERTIFICATIONS,
        SUPPLIER_EVENTS,
        ALERTS,
        REVIEWS,
        QUARANTINE,
        INGEST_RUNS,
        AUDIT_LOG,
        TOKEN_REVOCATIONS,
        CONSOLE_USERS,
        CONSOLE_SESSION_EPOCHS,
        CONSOLE_SIGNOUTS,
        FEEDBACK_REPORTS,
        FEEDBACK_EVENTS,
        FEEDBACK_IDENTITY_ACCESS,
    )
}

LINEAGE_COLUMNS = tuple(column.name for column in _LINEAGE)


def create_table_sql(table: Table) -> str:
    """The table's DDL: its key a PRIMARY KEY, or NOT NULL columns when ``key_index`` is
    false (the writers keep it unique)."""
    if not table.key_index:
        columns = ",\n  ".join(
            f'"{c.name}" {c.sql_type}' + (" NOT NULL" if c.name in table.key else "")
            for c in table.columns
        )
        return f'CREATE TABLE IF NOT EXISTS "{table.name}" (\n  {columns}\n)'
    columns = ",\n  ".join(f'"{c.name}" {c.sql_type}' for c in table.columns)
    key = ", ".join(f'"{name}"' for name in table.key)
    return f'CREATE TABLE IF NOT EXISTS "{table.name}" (\n  {columns},\n  PRIMARY KEY ({key})\n)'


def insert_new_sql(table: Table, names: str, select: str, source: str) -> str:
    """``INSERT`` into ``table`` (columns ``names``, values ``select``, cast to the declared
    types) of the rows of the view ``source`` whose key is not stored: ``OR IGNORE`` on the
    primary key, or an anti-join on the key columns when ``key_index`` is false; then
    ``source`` must hold one row per key (the anti-join does not compare it with itself)."""
    if table.key_index:
        return f'INSERT OR IGNORE INTO "{table.name}" ({names}) SELECT {select} FROM "{source}"'
    sql_types = {c.name: c.sql_type for c in table.columns}
    same_key = " AND ".join(
        f'stored."{k}" = CAST(incoming."{k}" AS {sql_types[k]})' for k in table.key
    )
    return (
        f'INSERT INTO "{table.name}" ({names}) SELECT {select} FROM "{source}" AS incoming '
        f'WHERE NOT EXISTS (SELECT 1 FROM "{table.name}" AS stored WHERE {same_key})'
    )


def unprotected_personal_columns() -> list[str]:
    """Columns marked personal but stored in plaintext (must be empty)."""
    return [
        f"{table.name}.{column.name}"
        for table in TABLES.values()
        for column in table.columns
        if column.personal != "none" and column.protection == "plain"
    ]
