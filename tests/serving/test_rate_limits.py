"""Per-caller rate limits: token buckets per (subject, route group) or per client address."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from core.settings import Keyring
from serving.app import create_app
from serving.jobs.learning_study import ReplayBudget, check_as_of
from serving.platform.errors import ApiError
from serving.platform.ratelimit import InProcessRateLimiter, route_group
from serving.settings import RateLimit, RateLimits, ServiceSettings
from tests.serving.conftest import audited_store, bearer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock)
    limit = RateLimit(per_minute=6, burst=3)  # one token every 10 s
    assert [limiter.take("a", limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", limit) == pytest.approx(10.0)
    assert limiter.take("b", limit) == 0.0  # buckets are per key
    clock.now += 4.0
    assert limiter.take("a", limit) == pytest.approx(6.0)
    clock.now += 6.0
    assert limiter.take("a", limit) == 0.0
    clock.now += 3600.0  # refills up to the burst, not beyond
    assert [limiter.take("a", limit) for _ in range(4)][-1] > 0


def test_the_least_recently_used_bucket_is_dropped_beyond_the_bound() -> None:
    limiter = InProcessRateLimiter(max_keys=2, clock=FakeClock())
    limit = RateLimit(per_minute=1, burst=1)
    for key in ("a", "b", "c"):
        assert limiter.take(key, limit) == 0.0
    assert limiter.take("c", limit) > 0
    assert limiter.take("a", limit) == 0.0  # dropped, back full


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/v1/members/E1001/recommendations", "study_suggestions"),
        ("/v1/members/E1001/mastery", "study"),
        ("/v1/branches/mine/mastery", "study"),
        ("/v1/xapi/statements", "xapi"),
        ("/v1/procurement/risk", "risk"),
        ("/v1/procurement/risk/batch", "risk_batch"),
        ("/v1/procurement/alerts", "procurement"),
        ("/v1/suppliers/S1/esg", "esg"),
        ("/v1/audit-log", "audit_log"),
        ("/v1/whoami", "api"),
        ("/v1/members/E1001", "api"),
        ("/healthz", "public"),
    ],
)
def test_route_groups(path: str, group: str) -> None:
    assert route_group(path) == group


def test_limits_name_known_groups_only() -> None:
    with pytest.raises(ValidationError, match="unknown route groups"):
        RateLimits(by_role={"member": {"everything": RateLimit(per_minute=1, burst=1)}})


@pytest.fixture
def limited_client(service_settings: ServiceSettings) -> Iterator[TestClient]:
    limits = RateLimits(
        default=RateLimit(per_minute=1, burst=2),
        anonymous=RateLimit(per_minute=1, burst=3),
        by_role={"security_auditor": {"audit_log": RateLimit(per_minute=1, burst=1)}},
    )
    settings = service_settings.model_copy(update={"rate_limits": limits})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_over_the_limit_is_429_with_retry_after_and_audited(
    limited_client: TestClient, service_keyring: Keyring
) -> None:
    admin = bearer(service_keyring, "ops.zhao", "admin")
    answers = [
        limited_client.get("/v1/whoami", headers=admin | {"X-Request-ID": f"req-{n}"})
        for n in range(3)
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    refused = answers[2]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.json()["error"]["request_id"] == "req-2"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    with audited_store(limited_client) as store:
        rows = store.query("SELECT status_code, role FROM audit_log WHERE request_id = 'req-2'")
    assert rows.to_dict("records") == [{"status_code": 429, "role": "admin"}]
    metrics = limited_client.get("/metrics").text
    assert 'lodestar_http_rate_limited_total{group="api",role="admin"} 1.0' in metrics


def test_buckets_are_per_subject_and_route_group(
    limited_client: TestClient, service_keyring: Keyring
) -> None:
    auditor = bearer(service_keyring, "sec.wang", "security_auditor")
    other = bearer(service_keyring, "sec.liu", "security_auditor")
    assert limited_client.get("/v1/audit-log", headers=auditor).status_code == 200
    assert limited_client.get("/v1/audit-log", headers=auditor).status_code == 429
    assert limited_client.get("/v1/audit-log", headers=other).status_code == 200
    assert limited_client.get("/v1/whoami", headers=auditor).status_code == 200  # other group


def test_anonymous_callers_are_limited_per_address(limited_client: TestClient) -> None:
    statuses = [limited_client.get("/v1/whoami").status_code for _ in range(3)]
    statuses.append(limited_client.get("/healthz").status_code)
    assert statuses == [401, 401, 401, 429]


def test_default_limits_keep_members_suggestions_tight(tmp_path: Path) -> None:
    limits = ServiceSettings(data_dir=tmp_path).rate_limits
    suggestions = limits.for_caller("member", "study_suggestions")
    assert suggestions.per_minute <= 10
    assert limits.for_caller("auditor", "risk").per_minute >= 10 * suggestions.per_minute
    assert limits.for_caller("admin", "xapi") != limits.for_caller("member", "xapi")


def test_suggestions_as_of_too_old_or_in_the_future_are_refused() -> None:
    now = datetime(2025, 6, 1, 10, 30)
    max_age = timedelta(days=30)
    check_as_of(now - timedelta(days=29), now, max_age)
    check_as_of(now + timedelta(minutes=29), now, max_age)  # within the live hour
    for moment in (now - timedelta(days=31), now + timedelta(hours=2), datetime(1, 1, 1)):
        with pytest.raises(ApiError) as refused:
            check_as_of(moment, now, max_age)
        assert refused.value.status_code == 422


def test_snapshot_builds_for_past_hours_share_one_budget() -> None:
    clock = FakeClock()
    budget = ReplayBudget(
        RateLimit(per_minute=0.2, burst=2), InProcessRateLimiter(max_keys=1, clock=clock)
    )
    budget.take()
    budget.take()
    with pytest.raises(ApiError) as refused:
        budget.take()
    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "300"}
    clock.now += 300
    budget.take()
