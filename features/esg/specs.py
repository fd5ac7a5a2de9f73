"""Every supplier-ESG feature: meaning in English and Chinese, unit, ESG pillar, the direction
of risk the model is constrained to, the reason sentence and what would improve it.

The features are computed in ``features.esg.build``; this module is the catalogue the model,
the API and the reports read. ``sentence_en`` / ``sentence_zh`` are templates with one
``{value:<format>}`` placeholder filled by ``EsgFeatureSpec.sentence``; ``improvement_en`` /
``improvement_zh`` say what the supplier could do to lower the feature's contribution
("renew ISO 14001" / "续期ISO 14001认证").

``pillar`` is ``E``, ``S`` or ``G`` (the pillar scores of ``models.esg.model`` group SHAP
contributions by it), ``performance`` (delivery and quality on the group's own contracts:
counted in the overall score, not in a pillar) or ``coverage`` (how much is known; never a
model input).

``monotone`` is the LightGBM monotone constraint: ``+1`` more is riskier (more penalties
never lower the risk), ``-1`` more is safer (a valid certificate never raises it), ``0``
unconstrained (the model learns the shape).

Not features, by rule (central SOE procurement may not discriminate on them; DOMAIN.md):
``NOT_CRITERIA``. The register holds them; no builder reads them and a test proves they are
absent from the model's inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Pillar = Literal["E", "S", "G", "performance", "coverage"]
Language = Literal["en", "zh"]

SUPPLIER_ID = "supplier_id"
AS_OF = "as_of"
HAS_ANY_HISTORY = "has_any_history"
IDENTITY_COLUMNS: list[str] = [SUPPLIER_ID, AS_OF]
"""Carried with every feature row, never model inputs."""

NOT_CRITERIA: tuple[str, ...] = (
    "ownership_type",
    "region",
    "registered_capital_cny",
    "founded_on",
    "years_in_operation",
)
"""Register attributes that are not criteria by rule: never features, never model inputs."""

PILLARS: tuple[str, ...] = ("E", "S", "G")

_UNKNOWN = {"en": "unknown", "zh": "未知"}


@dataclass(frozen=True)
class EsgFeatureSpec:
    """One feature. ``unit``: ``count``, ``0/1``, ``share``, ``grade``, ``kg CO2e/CNY``,
    ``days``, ``index`` (a decayed, severity-weighted count)."""

    name: str
    description_en: str
    description_zh: str
    unit: str
    pillar: Pillar
    monotone: int
    sentence_en: str
    sentence_zh: str
    improvement_en: str
    improvement_zh: str

    @property
    def model_input(self) -> bool:
        return self.pillar != "coverage"

    def sentence(self, value: float | None, language: Language = "en") -> str:
        """The reason sentence for ``value`` (missing reads "unknown" / "未知")."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            description = self.description_en if language == "en" else self.description_zh
            return f"{description}: {_UNKNOWN[language]}"
        template = self.sentence_en if language == "en" else self.sentence_zh
        return template.format(value=value)

    def improvement(self, language: Language = "en") -> str:
        return self.improvement_en if language == "en" else self.improvement_zh


def _spec(
    name: str,
    unit: str,
    pillar: Pillar,
    monotone: int,
    description: tuple[str, str],
    sentence: tuple[str, str],
    improvement: tuple[str, str],
) -> EsgFeatureSpec:
    return EsgFeatureSpec(
        name,
        description[0],
        description[1],
        unit,
        pillar,
        monotone,
        sentence[0],
        sentence[1],
        improvement[0],
        improvement[1],
    )


_RENEW_ISO14001 = (
    "obtain or renew ISO 14001 with its certificate",
    "取得或续期ISO 14001认证并提供证书",
)
_CLOSE_ENV = (
    "close the environmental penalties' corrective actions and document them",
    "完成环保处罚整改并提供整改证明",
)
_SAFETY = (
    "a documented safety improvement plan and safety standardisation",
    "制定并落实安全整改方案，开展安全生产标准化建设",
)
_LABOUR = ("settle labour disputes and pay wages on time", "妥善处理劳动争议，按时足额支付工资")
_DELIST = (
    "complete the listing's remedy and apply for removal (credit repair)",
    "履行义务并申请移出名单（信用修复）",
)

_SPECS: tuple[EsgFeatureSpec, ...] = (
    # ------------------------------------------------------------------ certifications (E, S, G)
    _spec(
        "iso14001_valid",
        "0/1",
        "E",
        -1,
        (
            "a valid ISO 14001 environmental management certificate with its document",
            "持有有效且有证明文件的ISO 14001环境管理体系认证",
        ),
        (
            "valid ISO 14001 with evidence: {value:.0f} (1 = yes)",
            "有效ISO 14001认证（有证明文件）：{value:.0f}（1为是）",
        ),
        _RENEW_ISO14001,
    ),
    _spec(
        "iso50001_valid",
        "0/1",
        "E",
        -1,
        (
            "a valid ISO 50001 energy management certificate with its document",
            "持有有效且有证明文件的ISO 50001能源管理体系认证",
        ),
        (
            "valid ISO 50001 with evidence: {value:.0f} (1 = yes)",
            "有效ISO 50001认证（有证明文件）：{value:.0f}（1为是）",
        ),
        ("obtain or renew ISO 50001 with its certificate", "取得或续期ISO 50001认证并提供证书"),
    ),
    _spec(
        "green_label_valid",
        "0/1",
        "E",
        -1,
        (
            "a valid China Environmental Labelling (or green-factory) certificate, documented",
            "持有有效且有证明文件的中国环境标志（或绿色工厂）认证",
        ),
        (
            "valid environmental label with evidence: {value:.0f} (1 = yes)",
            "有效环境标志认证（有证明文件）：{value:.0f}（1为是）",
        ),
        ("obtain the China Environmental Labelling certificate", "申请中国环境标志产品认证"),
    ),
    _spec(
        "iso45001_valid",
        "0/1",
        "S",
        -1,
        (
            "a valid ISO 45001 occupational health and safety certificate with its document",
            "持有有效且有证明文件的ISO 45001职业健康安全管理体系认证",
        ),
        (
            "valid ISO 45001 with evidence: {value:.0f} (1 = yes)",
            "有效ISO 45001认证（有证明文件）：{value:.0f}（1为是）",
        ),
        ("obtain or renew ISO 45001 with its certificate", "取得或续期ISO 45001认证并提供证书"),
    ),
    _spec(
        "iso9001_valid",
        "0/1",
        "G",
        -1,
        (
            "a valid ISO 9001 quality management certificate with its document",
            "持有有效且有证明文件的ISO 9001质量管理体系认证",
        ),
        (
            "valid ISO 9001 with evidence: {value:.0f} (1 = yes)",
            "有效ISO 9001认证（有证明文件）：{value:.0f}（1为是）",
        ),
        ("obtain or renew ISO 9001 with its certificate", "取得或续期ISO 9001认证并提供证书"),
    ),
    _spec(
        "required_marks_missing",
        "count",
        "S",
        1,
        (
            "catalogue categories the supplier sells that need a coal-mine safety mark (MA/KA) "
            "without a valid mark with its document",
            "供货类别中需要煤矿矿用产品安全标志（MA/KA）却无有效且有证明文件标志的类别数",
        ),
        (
            "{value:.0f} category(ies) without a valid MA/KA safety mark",
            "{value:.0f} 个类别缺少有效的MA/KA安全标志",
        ),
        (
            "renew the MA/KA safety marks and upload the certificates",
            "续期MA/KA矿用产品安全标志并上传证书",
        ),
    ),
    _spec(
        "required_licences_missing",
        "count",
        "S",
        1,
        (
            "licences the supplier's categories require (explosives permit and safety production "
            "permit for explosives, safety production permit for on-site services) that are "
            "missing, expired or without a document",
            "供货类别要求的许可证（民爆物品许可证、安全生产许可证）缺失、过期或无证明文件的数量",
        ),
        (
            "{value:.0f} required licence(s) missing or expired",
            "缺少或过期的必备许可证 {value:.0f} 项",
        ),
        ("renew the required licences and upload them", "续期必备许可证并上传"),
    ),
    _spec(
        "claims_without_evidence",
        "count",
        "G",
        1,
        (
            "certificates claimed without a document (they count as absent)",
            "未提供证明文件的证书声明数量（按未持有处理）",
        ),
        ("{value:.0f} certificate claim(s) without a document", "{value:.0f} 项证书声明无证明文件"),
        ("upload the documents of the claimed certificates", "补充上传所声明证书的证明文件"),
    ),
    # ------------------------------------------------------------------ environment
    _spec(
        "env_penalty_count_36m",
        "count",
        "E",
        1,
        (
            "environmental administrative penalties in the 36 months before",
            "前36个月内环保行政处罚次数",
        ),
        ("{value:.0f} environmental penalty(ies) in 36 months", "36个月内环保处罚 {value:.0f} 次"),
        _CLOSE_ENV,
    ),
    _spec(
        "env_penalty_decayed",
        "index",
        "E",
        1,
        (
            "environmental penalties weighted by severity (minor 1, serious 2, major 4) and halved "
            "every 12 months of age",
            "按严重程度加权（轻微1、较重2、重大4）并按12个月半衰期衰减的环保处罚指数",
        ),
        ("recent environmental penalty index {value:.2f}", "近期环保处罚指数 {value:.2f}"),
        _CLOSE_ENV,
    ),
    _spec(
        "env_serious_penalty_count_36m",
        "count",
        "E",
        1,
        (
            "serious or major environmental penalties in the 36 months before",
            "前36个月内较重及以上环保处罚次数",
        ),
        (
            "{value:.0f} serious or major environmental penalty(ies) in 36 months",
            "36个月内较重及以上环保处罚 {value:.0f} 次",
        ),
        _CLOSE_ENV,
    ),
    _spec(
        "env_fines_log10_cny_36m",
        "log10 CNY",
        "E",
        1,
        (
            "environmental fines in the 36 months before, log10(1 + CNY)",
            "前36个月内环保罚款总额，log10(1+元)",
        ),
        (
            "environmental fines of 10^{value:.1f} CNY in 36 months",
            "36个月内环保罚款约 10^{value:.1f} 元",
        ),
        _CLOSE_ENV,
    ),
    _spec(
        "carbon_intensity_kg_per_cny",
        "kg CO2e/CNY",
        "E",
        0,
        (
            "carbon intensity: reported where given, else the spend-based estimate from the "
            "supplier's categories (EPA USEEIO factors, see features.esg.carbon)",
            "碳排放强度：有报告的用报告值，否则按供货类别用支出法估算（EPA USEEIO因子）",
        ),
        (
            "carbon intensity {value:.3f} kg CO2e per CNY",
            "碳排放强度 {value:.3f} 千克二氧化碳当量/元",
        ),
        ("report verified emissions and a reduction plan", "报告经核查的碳排放数据及减排计划"),
    ),
    _spec(
        "carbon_intensity_reported",
        "0/1",
        "E",
        0,
        (
            "the carbon intensity is the supplier's own report (0: a spend-based estimate)",
            "碳排放强度为供应商自报（0为支出法估算）",
        ),
        (
            "reported its carbon intensity: {value:.0f} (1 = yes)",
            "已自报碳排放强度：{value:.0f}（1为是）",
        ),
        ("report verified emissions", "报告经核查的碳排放数据"),
    ),
    _spec(
        "high_environmental_materiality",
        "0/1",
        "E",
        0,
        (
            "sells a category where environment weighs most (steel, cement, chemicals, lubricants)",
            "供货类别属环境重大性高的类别（钢材、水泥、化工品、润滑油）",
        ),
        (
            "sells an environmentally material category: {value:.0f} (1 = yes)",
            "供应环境重大性高的类别：{value:.0f}（1为是）",
        ),
        ("environmental management evidence for these categories", "为该类别提供环境管理证明"),
    ),
    # ------------------------------------------------------------------ social
    _spec(
        "safety_accident_count_36m",
        "count",
        "S",
        1,
        ("production-safety accidents in the 36 months before", "前36个月内生产安全事故次数"),
        ("{value:.0f} safety accident(s) in 36 months", "36个月内生产安全事故 {value:.0f} 起"),
        _SAFETY,
    ),
    _spec(
        "safety_accident_decayed",
        "index",
        "S",
        1,
        (
            "safety accidents weighted by grade (general 1, larger 3, major 6, extraordinary 10) "
            "and halved every 12 months of age",
            "按事故等级加权（一般1、较大3、重大6、特别重大10）并按12个月半衰期衰减的事故指数",
        ),
        ("recent safety accident index {value:.2f}", "近期安全事故指数 {value:.2f}"),
        _SAFETY,
    ),
    _spec(
        "accident_deaths_36m",
        "count",
        "S",
        1,
        ("deaths in the supplier's accidents in the 36 months before", "前36个月内事故死亡人数"),
        ("{value:.0f} death(s) in accidents in 36 months", "36个月内事故死亡 {value:.0f} 人"),
        _SAFETY,
    ),
    _spec(
        "worst_accident_grade_36m",
        "grade",
        "S",
        1,
        (
            "worst accident grade in the 36 months before: 0 none, 1 general, 2 larger, 3 major, "
            "4 extraordinary",
            "前36个月内最严重事故等级：0无、1一般、2较大、3重大、4特别重大",
        ),
        (
            "worst accident grade {value:.0f} in 36 months (0 none … 4 extraordinary)",
            "36个月内最严重事故等级 {value:.0f}（0无…4特别重大）",
        ),
        _SAFETY,
    ),
    _spec(
        "safety_blacklist_listed",
        "0/1",
        "S",
        1,
        ("on the production-safety blacklist at the date", "当日在安全生产失信惩戒名单内"),
        (
            "on the safety blacklist: {value:.0f} (1 = yes)",
            "在安全生产黑名单内：{value:.0f}（1为是）",
        ),
        _DELIST,
    ),
    _spec(
        "labour_events_count_36m",
        "count",
        "S",
        1,
        (
            "labour disputes and wage-arrears listings in the 36 months before",
            "前36个月内劳动争议和拖欠工资事件次数",
        ),
        (
            "{value:.0f} labour dispute(s) or wage arrears in 36 months",
            "36个月内劳动争议或欠薪 {value:.0f} 次",
        ),
        _LABOUR,
    ),
    _spec(
        "quality_failure_count_36m",
        "count",
        "S",
        1,
        (
            "product-quality sampling failures in the 36 months before",
            "前36个月内产品质量抽检不合格次数",
        ),
        (
            "{value:.0f} quality sampling failure(s) in 36 months",
            "36个月内质量抽检不合格 {value:.0f} 次",
        ),
        ("a documented quality corrective action", "完成质量问题整改并提供证明"),
    ),
    _spec(
        "high_safety_materiality",
        "0/1",
        "S",
        0,
        (
            "sells a category where labour and safety weigh most (explosives, on-site services)",
            "供货类别属安全重大性高的类别（民爆物品、现场维修服务）",
        ),
        (
            "sells a safety-material category: {value:.0f} (1 = yes)",
            "供应安全重大性高的类别：{value:.0f}（1为是）",
        ),
        ("safety management evidence for these categories", "为该类别提供安全管理证明"),
    ),
    # ------------------------------------------------------------------ governance
    _spec(
        "governance_listings_active",
        "count",
        "G",
        1,
        (
            "listings in force at the date: court defaulter, debarment, serious-violation list, "
            "major tax violation",
            "当日仍有效的名单数：失信被执行人、禁止参与采购、严重违法失信、重大税收违法",
        ),
        ("{value:.0f} governance listing(s) in force", "有效的失信类名单 {value:.0f} 项"),
        _DELIST,
    ),
    _spec(
        "governance_listings_60m",
        "count",
        "G",
        1,
        (
            "governance listings (as above) that began in the 60 months before",
            "前60个月内被列入失信类名单的次数",
        ),
        (
            "{value:.0f} governance listing(s) in 60 months",
            "60个月内被列入失信类名单 {value:.0f} 次",
        ),
        _DELIST,
    ),
    _spec(
        "bribery_finding_count_60m",
        "count",
        "G",
        1,
        (
            "bribery or bid-rigging findings in the 60 months before",
            "前60个月内行贿或串通投标查处次数",
        ),
        ("{value:.0f} bribery finding(s) in 60 months", "60个月内行贿查处 {value:.0f} 次"),
        ("an anti-bribery compliance programme (ISO 37001)", "建立反商业贿赂合规体系（ISO 37001）"),
    ),
    _spec(
        "litigation_count_36m",
        "count",
        "G",
        1,
        ("lawsuits as defendant in the 36 months before", "前36个月内作为被告的诉讼次数"),
        ("{value:.0f} lawsuit(s) as defendant in 36 months", "36个月内作为被告涉诉 {value:.0f} 起"),
        ("settle the open disputes", "妥善解决未结纠纷"),
    ),
    _spec(
        "tax_credit_grade_rank",
        "grade",
        "G",
        1,
        (
            "tax credit grade as a rank: A 0, B 1, M 2, C 3, D 4 (missing when not given)",
            "纳税信用等级序号：A 0、B 1、M 2、C 3、D 4（未提供为缺失）",
        ),
        (
            "tax credit grade rank {value:.0f} (A 0 … D 4)",
            "纳税信用等级序号 {value:.0f}（A 0…D 4）",
        ),
        ("improve the tax credit grade (file and pay on time)", "按时申报纳税，提升纳税信用等级"),
    ),
    _spec(
        "corrective_closure_ratio_36m",
        "share",
        "G",
        -1,
        (
            "documented corrective-action closures / negative events in the 36 months before "
            "(missing without negative events)",
            "前36个月内有证明的整改完成次数/负面事件次数（无负面事件时缺失）",
        ),
        (
            "{value:.0%} of recent negative events closed with a documented corrective action",
            "近期负面事件中有 {value:.0%} 已完成整改并有证明",
        ),
        ("close open corrective actions and document them", "完成未结整改并提供证明"),
    ),
    # ------------------------------------------------------------------ performance
    _spec(
        "deliveries_365d",
        "count",
        "performance",
        0,
        ("deliveries due to the group in the 365 days before", "前365天内向集团的交货次数"),
        ("{value:.0f} delivery(ies) in 365 days", "365天内交货 {value:.0f} 次"),
        ("", ""),
    ),
    _spec(
        "late_delivery_share_365d",
        "share",
        "performance",
        1,
        (
            "share of deliveries late or not met in the 365 days before",
            "前365天内延迟或未交货的比例",
        ),
        ("{value:.0%} of deliveries late in 365 days", "365天内 {value:.0%} 的交货延迟"),
        (
            "deliver on time (a delivery plan for remote mines in winter)",
            "按期交货（冬季偏远矿区提前备货）",
        ),
    ),
    _spec(
        "quality_rejections_365d",
        "count",
        "performance",
        1,
        ("acceptance inspections failed in the 365 days before", "前365天内验收不合格次数"),
        ("{value:.0f} failed acceptance(s) in 365 days", "365天内验收不合格 {value:.0f} 次"),
        ("fix the causes of rejected deliveries", "查明并整改验收不合格原因"),
    ),
    # ------------------------------------------------------------------ coverage (not an input)
    _spec(
        HAS_ANY_HISTORY,
        "0/1",
        "coverage",
        0,
        (
            "anything is known before the date: an event, a certificate (with or without its "
            "document) or a delivery",
            "当日之前有任何记录：事件、证书（无论有无证明文件）或交货",
        ),
        (
            "any history known: {value:.0f} (0 = nothing known: manual review)",
            "有任何历史记录：{value:.0f}（0为无记录，需人工审核）",
        ),
        ("submit certificates and records for review", "提交证书和相关记录供审核"),
    ),
)

FEATURES: dict[str, EsgFeatureSpec] = {spec.name: spec for spec in _SPECS}
FEATURE_NAMES: list[str] = list(FEATURES)
MODEL_FEATURES: list[str] = [spec.name for spec in _SPECS if spec.model_input]
"""The model's inputs, in order: every feature but the coverage indicator."""
MONOTONE_CONSTRAINTS: list[int] = [FEATURES[name].monotone for name in MODEL_FEATURES]


def pillar_of(name: str) -> str:
    return FEATURES[name].pillar
