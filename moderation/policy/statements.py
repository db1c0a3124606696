"""Policy part `statements`: platform wording of statements of reasons (policies/statements.yaml).

Every value is checked against the Transparency Database format (`sor_rules`), and a sample statement
is built from each ground and each finding/notice mapping and validated, so a policy that would
produce an invalid statement is refused at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from moderation.exceptions import PolicyError
from moderation.policy import sor_rules
from moderation.policy.loader import read_yaml, register_part
from moderation.policy.regimes import load_regimes

FILENAME = "statements.yaml"

Text500 = Annotated[str, Field(min_length=1, max_length=500)]
Text2000 = Annotated[str, Field(min_length=1, max_length=2000)]
Url = Annotated[str, Field(pattern=r"^https?://[^\s/]+\.[^\s]+$", max_length=500)]


def _all_in(values: tuple[str, ...], allowed: frozenset[str], what: str) -> tuple[str, ...]:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"not {what}: {', '.join(bad)}")
    if len(set(values)) != len(values):
        raise ValueError("duplicate values")
    return values


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Platform(_Frozen):
    puid_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
    terms_url: Url
    territorial_scope: tuple[str, ...] = Field(min_length=1)
    content_type: tuple[str, ...] = Field(min_length=1)
    generated_content_type: tuple[str, ...] = Field(min_length=1)

    @field_validator("territorial_scope")
    @classmethod
    def _scope(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _all_in(value, sor_rules.TERRITORIES, "EU/EEA country codes the database accepts")

    @field_validator("content_type", "generated_content_type")
    @classmethod
    def _types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "CONTENT_TYPE_OTHER" in value:
            raise ValueError("CONTENT_TYPE_OTHER needs a description; list a specific content type")
        return _all_in(value, sor_rules.CONTENT_TYPE, "content types")


class Restriction(_Frozen):
    statement: bool = True
    visibility: tuple[str, ...] = Field(min_length=1)
    visibility_other: Text500 | None = None

    @field_validator("visibility")
    @classmethod
    def _visibility(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _all_in(value, sor_rules.VISIBILITY, "visibility decisions")

    @model_validator(mode="after")
    def _other(self) -> Restriction:
        other = "DECISION_VISIBILITY_OTHER" in self.visibility
        if other and not self.visibility_other:
            raise ValueError("visibility_other is required with DECISION_VISIBILITY_OTHER")
        if not other and self.visibility_other:
            raise ValueError("visibility_other only goes with DECISION_VISIBILITY_OTHER")
        return self


class Restrictions(_Frozen):
    check_block: Restriction
    review_hold: Restriction
    notice_removal: Restriction
    stay_down_block: Restriction


class Ground(_Frozen):
    """`illegal`: `legal_ground` names the law; `incompatible`: `reference` names the terms clause."""

    type: Literal["illegal", "incompatible"]
    legal_ground: Text500 | None = None
    reference: Text500 | None = None
    url: Url | None = None
    explanation: Text2000
    also_illegal: bool | None = None

    @model_validator(mode="after")
    def _pair(self) -> Ground:
        if self.type == "illegal" and (
            not self.legal_ground or self.reference or self.also_illegal is not None
        ):
            raise ValueError("an illegal ground has legal_ground (and no reference or also_illegal)")
        if self.type == "incompatible" and (not self.reference or self.legal_ground):
            raise ValueError("an incompatible ground has reference (and no legal_ground)")
        return self

    @property
    def decision_ground(self) -> str:
        return sor_rules.GROUND_ILLEGAL if self.type == "illegal" else sor_rules.GROUND_INCOMPATIBLE


class Classification(_Frozen):
    category: str
    keywords: tuple[str, ...] = ()
    ground: str

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        if value not in sor_rules.CATEGORY:
            raise ValueError(f"{value!r} is not a statement category")
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "KEYWORD_OTHER" in value:
            raise ValueError("KEYWORD_OTHER needs a description; choose a specific keyword")
        return _all_in(value, sor_rules.KEYWORD, "keywords")


class FindingMatch(_Frozen):
    rule: Annotated[str, Field(min_length=1)] | None = None
    bank: Annotated[str, Field(min_length=1)] | None = None
    category: Annotated[str, Field(min_length=1)] | None = None

    def matches(self, reason: dict[str, Any]) -> bool:
        return all(
            wanted is None or reason.get(key) == wanted
            for key, wanted in (("rule", self.rule), ("bank", self.bank), ("category", self.category))
        )


class FindingRule(Classification):
    match: FindingMatch


class NoticeRule(Classification):
    source: str

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if value not in sor_rules.SOURCES - {sor_rules.SOURCE_VOLUNTARY}:
            raise ValueError(f"{value!r} is not a notice source type")
        return value


class RedressOption(_Frozen):
    text: Text500
    url: Url | None = None


class Redress(_Frozen):
    internal_complaint: RedressOption
    out_of_court: RedressOption
    court: RedressOption


class StatementPolicy(_Frozen):
    platform: Platform
    restrictions: Restrictions
    grounds: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")], Ground] = Field(min_length=1)
    check_findings: tuple[FindingRule, ...] = Field(min_length=1)
    notices: dict[str, NoticeRule]
    redress: Redress

    @model_validator(mode="after")
    def _references(self) -> StatementPolicy:
        for i, rule in enumerate(self.check_findings):
            if rule.ground not in self.grounds:
                raise ValueError(f"check_findings[{i}].ground: unknown ground '{rule.ground}'")
        if self.check_findings[-1].match != FindingMatch():
            raise ValueError("check_findings: the last rule must be the fallback (match: {})")
        for key in ("default", "child_safety"):
            if key not in self.notices:
                raise ValueError(f"notices.{key} is required")
        for key, notice in self.notices.items():
            if notice.ground not in self.grounds:
                raise ValueError(f"notices.{key}.ground: unknown ground '{notice.ground}'")
        return self

    def finding(self, reasons: list[dict[str, Any]]) -> FindingRule:
        """The first rule that matches a restricting finding (the fallback otherwise)."""
        restricting = [r for r in reasons if r.get("decision") in ("block", "review")]
        for rule in self.check_findings:
            if any(rule.match.matches(r) for r in restricting):
                return rule
        return self.check_findings[-1]

    def notice_rule(self, regime_ids: list[str], *, child_safety: bool) -> tuple[str, NoticeRule]:
        """The (key, rule) for a notice: child_safety first, then its first listed regime, else default."""
        if child_safety:
            return "child_safety", self.notices["child_safety"]
        for regime_id in regime_ids:
            if regime_id in self.notices:
                return regime_id, self.notices[regime_id]
        return "default", self.notices["default"]

    def ground_fields(self, ground_id: str) -> dict[str, Any]:
        """The statement fields of a ground (the pair that its type selects, and the reference URL)."""
        ground = self.grounds[ground_id]
        fields: dict[str, Any] = {"decision_ground": ground.decision_ground}
        if ground.type == "illegal":
            fields["illegal_content_legal_ground"] = ground.legal_ground
            fields["illegal_content_explanation"] = ground.explanation
        else:
            fields["incompatible_content_ground"] = ground.reference
            fields["incompatible_content_explanation"] = ground.explanation
            if ground.also_illegal is not None:
                fields["incompatible_content_illegal"] = "Yes" if ground.also_illegal else "No"
        url = ground.url or (self.platform.terms_url if ground.type == "incompatible" else None)
        if url:
            fields["decision_ground_reference_url"] = url
        return fields


def _sample(
    policy: StatementPolicy, restriction: Restriction, rule: Classification, source: str
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "decision_visibility": list(restriction.visibility),
        **policy.ground_fields(rule.ground),
        "content_type": list(policy.platform.content_type),
        "category": rule.category,
        "territorial_scope": list(policy.platform.territorial_scope),
        "content_date": "2026-01-01",
        "application_date": "2026-01-01",
        "decision_facts": "Policy validation sample.",
        "source_type": source,
        "automated_detection": "Yes",
        "automated_decision": sor_rules.AUTOMATED_FULLY,
        "puid": f"{policy.platform.puid_prefix}-sample",
    }
    if restriction.visibility_other:
        statement["decision_visibility_other"] = restriction.visibility_other
    if rule.keywords:
        statement["category_specification"] = list(rule.keywords)
    return statement


def _check_samples(policy: StatementPolicy, shown: str) -> None:
    """Build one statement per mapping and validate it: the policy can only produce valid statements."""
    restrictions = policy.restrictions
    samples: list[tuple[str, dict[str, Any]]] = []
    for i, finding in enumerate(policy.check_findings):
        for name in ("check_block", "review_hold", "stay_down_block"):
            restriction = getattr(restrictions, name)
            samples.append(
                (f"check_findings[{i}]", _sample(policy, restriction, finding, sor_rules.SOURCE_VOLUNTARY))
            )
    for key, notice in policy.notices.items():
        samples.append(
            (f"notices.{key}", _sample(policy, restrictions.notice_removal, notice, notice.source))
        )
    for where, sample in samples:
        found = sor_rules.problems(sample)
        if found:
            field, message = found[0]
            raise PolicyError(f"{shown}: {where}: would produce an invalid statement: {field} {message}")


def load_statements(policies_dir: Path) -> StatementPolicy:
    """Parse and validate policies/statements.yaml; `PolicyError` names the file and the field."""
    path = policies_dir / FILENAME
    shown = f"policies/{FILENAME}"
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise PolicyError(f"{shown}: must be a mapping")
    try:
        policy = StatementPolicy.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        raise PolicyError(f"{shown}: {where}: {error['msg']}") from None
    regimes = load_regimes(policies_dir)
    for key in policy.notices:
        if key not in ("default", "child_safety") and key not in regimes:
            raise PolicyError(f"{shown}: notices.{key}: no regime with this id under policies/regimes/")
    _check_samples(policy, shown)
    return policy


register_part("statements", load_statements)
