"""Members' problem reports in the demo world, written as the platform would push them.

Reads what the two halves of the world wrote (releases, members, the planted schemes) and
writes ``feedback/reports.csv`` (one report a row, the handler's kind as the label) and the
truth ``feedback_reports.csv`` (report_id, planted_kind, scheme). Reports behave as real ones:

* schemed processes draw a report only now and then (``SCHEME_REPORT_RATE``), mostly
  integrity or price concerns but not always, and sometimes linked to the supplier only, not
  the process (noisy);
* when depends on the kind (``_submitted``): a process blockage is met while the process
  runs, so it is reported between the tender's start and the award; an integrity concern is
  raised during the tender now and then (``INTEGRITY_DURING_TENDER_SHARE``: a bidder or an
  evaluator sees it happen), else weeks to months after the award, as price, quality and
  delivery complaints are (late). A report never reaches back before its process began;
* ordinary reports: a late delivery draws a delivery complaint now and then, and any process
  a quality, price or blockage report at a low rate, integrity concerns included (most of
  which lead nowhere); some reports link to nothing.

Texts come from templates with slots, phrased many ways, and a share of them avoids every
word of the keyword baseline (``models.feedback.keywords``): people do not write in keywords.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson

from ingest.readers.feedback import HEADER
from world.config import WorldConfig

REPORTS_FILE = "feedback/reports.csv"
TRUTH_REPORTS = "feedback_reports.csv"

SCHEME_REPORT_RATE = 0.3
LATE_DELIVERY_REPORT_RATE = 0.25
ORDINARY_REPORT_RATE = 0.04
UNLINKED_PER_MEMBER = 0.3
INTEGRITY_DURING_TENDER_SHARE = 0.25
TENDER_DAYS_WITHOUT_PERIOD = 14.0  # a process without a tender period began this long before

# kind each scheme's reports tend to be, with the chance of each
SCHEME_KINDS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "bid_rigging": (("integrity_concern", "price", "process_blockage"), (0.6, 0.3, 0.1)),
    "related_bidders": (("integrity_concern", "price", "quality"), (0.6, 0.25, 0.15)),
    "price_inflation": (("price", "integrity_concern", "quality"), (0.65, 0.25, 0.1)),
    "single_source_abuse": (("integrity_concern", "process_blockage", "price"), (0.5, 0.2, 0.3)),
    "split_purchase": (("process_blockage", "integrity_concern", "price"), (0.45, 0.4, 0.15)),
    "contract_inflation": (("price", "integrity_concern", "quality"), (0.5, 0.35, 0.15)),
}
ORDINARY_KINDS = (
    ("quality", "price", "process_blockage", "integrity_concern", "delivery_delay"),
    (0.35, 0.25, 0.25, 0.05, 0.10),
)

# (template, uses a baseline keyword); slots: {m} material, {s} supplier, {d} days
TEMPLATES: dict[str, tuple[str, ...]] = {
    "delivery_delay": (
        "{m}合同约定的日期早过了，还没到货，井下等着用",
        "{s}的{m}交货延迟了{d}天，影响检修计划",
        "催了好几次，{m}迟迟不发，供应商说排产满了",
        "{m}到货晚了{d}天，工作面差点停下来",
        "说好月初送到的{m}，到现在仓库也没见到",
        "{s}一直拖着不发{m}，已经耽误了{d}天",
    ),
    "price": (
        "这批{m}的单价比去年高了不少，是不是报价偏高",
        "{s}给的{m}价格明显高于市场价",
        "同样的{m}，隔壁矿买得比我们便宜三成",
        "{m}一根要这么多钱？网上同规格的便宜一大截",
        "感觉{m}的采购价贵得离谱，建议复核",
        "{m}比上次采购多花了不少钱，规格也没变",
    ),
    "quality": (
        "{s}送来的{m}有破损，检验不合格",
        "{m}用了不到一个月就坏了，质量有问题",
        "这批{m}以次充好，和样品不一样",
        "{m}尺寸对不上，装不上去，只能退回去",
        "{s}的{m}锈得厉害，一看就是库存旧货",
        "新到的{m}好几根有裂纹，不敢下井用",
    ),
    "process_blockage": (
        "{m}的采购申请在审批环节卡住{d}天了",
        "流程里要签字的人出差了，{m}的单子一直没人批",
        "系统提交{m}需求总是被退回，说材料不全又不说缺什么",
        "急用的{m}走了{d}天手续还没走完",
        "{m}的计划报上去没人管，问谁都说不归自己",
        "同一份{m}需求要重复填三张表，太折腾了",
    ),
    "integrity_concern": (
        "{m}每次都是{s}中标，听说有人收了好处费",
        "评标前就有人打招呼，{m}这单定给了关系户",
        "几家投{m}的公司像是一伙的，报价就差一点点，怀疑围标",
        "{s}的人经常请采购的人吃饭，{m}的单子都给了他们",
        "{m}这单刚好卡在审批线下面分了几次买，不太对劲",
        "总觉得{m}的采购里有猫腻，每次都是那一家",
        "有人说拿{m}的单子要给回扣，不给就拿不到",
        "{m}没招标就直接定了{s}，理由说得含糊",
    ),
}
# phrases that carry another kind's words, appended now and then (people mix topics)
NOISE = (
    "，价格也不便宜",
    "，而且到货晚",
    "，审批还慢",
    "，质量一般",
    "，希望尽快处理",
    "，请领导关注",
    "",
    "",
    "",
)


@dataclass(frozen=True)
class _Process:
    ocid: str
    tendered: datetime
    awarded: datetime
    supplier_id: str
    supplier_name: str
    category: str
    material: str
    delivery_late_days: int


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None)


def _processes(releases: Path) -> list[_Process]:
    out = []
    with releases.open("rb") as handle:
        for line in handle:
            release = orjson.loads(line)
            awards = release.get("awards") or []
            if not awards or not awards[0].get("suppliers"):
                continue
            items = release.get("tender", {}).get("items") or [{}]
            classification = items[0].get("classification", {})
            late = 0
            for contract in release.get("contracts") or []:
                for milestone in contract.get("implementation", {}).get("milestones") or []:
                    if milestone.get("type") == "delivery" and milestone.get("dateMet"):
                        slip = _time(milestone["dateMet"]) - _time(milestone["dueDate"])
                        late = max(late, slip.days)
            supplier = awards[0]["suppliers"][0]
            awarded = _time(awards[0]["date"])
            period = release.get("tender", {}).get("tenderPeriod") or {}
            tendered = (
                _time(period["startDate"])
                if period.get("startDate")
                else awarded - timedelta(days=TENDER_DAYS_WITHOUT_PERIOD)
            )
            out.append(
                _Process(
                    ocid=release["ocid"],
                    tendered=min(tendered, awarded),
                    awarded=awarded,
                    supplier_id=supplier["id"],
                    supplier_name=supplier.get("name", ""),
                    category=classification.get("id", ""),
                    material=classification.get("description", "物资"),
                    delivery_late_days=late,
                )
            )
    return out


def _schemes(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as handle:
        return {row["ocid"]: row["scheme"] for row in csv.DictReader(handle)}


def _members(path: Path) -> dict[str, str]:
    """employee_no -> party branch ('' when none)."""
    with path.open(encoding="utf-8") as handle:
        return {row["employee_no"]: row.get("party_branch") or "" for row in csv.DictReader(handle)}


def _submitted(rng: np.random.Generator, kind: str, process: _Process, late: timedelta) -> datetime:
    """When a report of ``kind`` about ``process`` comes in: during the process (from the
    tender's start to the award) for a blockage and for some integrity concerns, else
    ``late`` after the award."""
    during = kind == "process_blockage" or (
        kind == "integrity_concern" and rng.random() < INTEGRITY_DURING_TENDER_SHARE
    )
    if not during:
        return process.awarded + late
    return process.tendered + (process.awarded - process.tendered) * float(rng.random())


def _text(rng: np.random.Generator, kind: str, process: _Process | None) -> str:
    template = TEMPLATES[kind][rng.integers(len(TEMPLATES[kind]))]
    material = process.material if process else "物资"
    supplier = (process.supplier_name if process else "") or "这家供应商"
    text = template.format(m=material, s=supplier, d=int(rng.integers(3, 30)))
    return text + NOISE[rng.integers(len(NOISE))]


def generate_feedback_reports(
    config: WorldConfig, world_dir: Path, truth_dir: Path
) -> dict[str, int]:
    """Write the reports and their truth; returns ``{"feedback_reports": n}``."""
    rng = config.rng("feedback")
    processes = _processes(world_dir / "procurement" / "releases.jsonl")
    schemes = _schemes(truth_dir / "process_schemes.csv")
    branches = _members(world_dir / "learning" / "members.csv")
    members = sorted(branches)
    end = datetime.combine(config.end, datetime.min.time()) + timedelta(days=180)
    planned: list[
        tuple[str, _Process | None, datetime, str, bool]
    ] = []  # kind, process, when, scheme, link ocid
    for process in processes:
        scheme = schemes.get(process.ocid, "")
        if scheme and rng.random() < SCHEME_REPORT_RATE:
            kinds, weights = SCHEME_KINDS.get(scheme, ORDINARY_KINDS)
            kind = str(rng.choice(kinds, p=np.asarray(weights) / sum(weights)))
            late = timedelta(days=float(rng.gamma(2.0, 25.0)))  # weeks to months after award
            when = _submitted(rng, kind, process, late)
            planned.append((kind, process, when, scheme, rng.random() < 0.7))
        if process.delivery_late_days > 0 and rng.random() < LATE_DELIVERY_REPORT_RATE:
            delay = timedelta(days=float(rng.uniform(1, 10)))
            planned.append(("delivery_delay", process, process.awarded + delay, "", True))
        if rng.random() < ORDINARY_REPORT_RATE:
            kinds, weights = ORDINARY_KINDS
            kind = str(rng.choice(kinds, p=np.asarray(weights) / sum(weights)))
            late = timedelta(days=float(rng.gamma(2.0, 15.0)))
            when = _submitted(rng, kind, process, late)
            planned.append((kind, process, when, "", rng.random() < 0.8))
    start = datetime.combine(config.start, datetime.min.time())
    for _ in range(round(UNLINKED_PER_MEMBER * len(members))):
        kind = str(rng.choice(ORDINARY_KINDS[0], p=ORDINARY_KINDS[1]))
        when = start + timedelta(days=float(rng.uniform(0, (config.end - config.start).days)))
        planned.append((kind, None, when, "", False))
    planned.sort(key=lambda plan: plan[2])

    rows: list[tuple[str, ...]] = []
    truth: list[tuple[str, ...]] = []
    for seq, (kind, linked, submitted, scheme, link_ocid) in enumerate(planned, start=1):
        if submitted >= end:
            continue
        submitted = submitted.replace(microsecond=0)
        report_id = f"FB-{config.seed}-{seq:06d}"
        anonymous = (kind == "integrity_concern" and rng.random() < 0.6) or rng.random() < 0.05
        reporter = "" if anonymous else members[rng.integers(len(members))]
        # the handler sometimes files a report under a neighbouring kind (label noise)
        label = kind if rng.random() > 0.05 else str(rng.choice(ORDINARY_KINDS[0]))
        resolved = (submitted + timedelta(hours=float(rng.gamma(2.0, 30.0)))).replace(microsecond=0)
        reviewed = (resolved + timedelta(days=float(rng.uniform(1, 20)))).replace(microsecond=0)
        rows.append(
            (
                report_id,
                (submitted - timedelta(hours=float(rng.uniform(1, 96))))
                .replace(microsecond=0)
                .isoformat(),
                submitted.isoformat(),
                reporter,
                branches.get(reporter, ""),
                "true" if anonymous else "false",
                _text(rng, kind, linked),
                linked.ocid if linked and link_ocid else "",
                linked.supplier_id if linked else "",
                linked.category if linked else "",
                label,
                resolved.isoformat() if resolved < end else "",
                reviewed.isoformat() if reviewed < end else "",
            )
        )
        truth.append((report_id, kind, scheme))
    _write_csv(world_dir / REPORTS_FILE, HEADER, rows)
    _write_csv(truth_dir / TRUTH_REPORTS, ("report_id", "planted_kind", "scheme"), truth)
    return {"feedback_reports": len(rows)}


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
