"""The statement validator follows the reference rules, and a policy that would produce an invalid
statement is refused at start-up."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from moderation.config import PROJECT_ROOT
from moderation.exceptions import PolicyError
from moderation.policy import load_policy
from moderation.policy.sor_rules import problems

MINIMAL: dict[str, Any] = {
    "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
    "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    "incompatible_content_ground": "Community Guidelines, section 4.2 (spam)",
    "incompatible_content_explanation": "Same commercial link posted in many threads.",
    "content_type": ["CONTENT_TYPE_TEXT"],
    "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "territorial_scope": ["DE"],
    "content_date": "2026-06-30",
    "application_date": "2026-07-01",
    "decision_facts": "User reports; a moderator confirmed.",
    "source_type": "SOURCE_TYPE_OTHER_NOTIFICATION",
    "automated_detection": "No",
    "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
    "puid": "mod-2026-07-01-000123",
}

FULL: dict[str, Any] = {
    "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED", "DECISION_VISIBILITY_OTHER"],
    "decision_visibility_other": "Hidden from storefront",
    "end_date_visibility_restriction": None,
    "decision_monetary": "DECISION_MONETARY_OTHER",
    "decision_monetary_other": "Payouts held in escrow",
    "end_date_monetary_restriction": "2026-08-01",
    "decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION",
    "end_date_service_restriction": "2026-07-15",
    "decision_account": "DECISION_ACCOUNT_SUSPENDED",
    "end_date_account_restriction": "2026-07-31",
    "account_type": "ACCOUNT_TYPE_BUSINESS",
    "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
    "decision_ground_reference_url": "https://eur-lex.europa.eu/eli/reg/2023/988/oj",
    "illegal_content_legal_ground": "Regulation (EU) 2023/988, Art. 5",
    "illegal_content_explanation": "No CE marking; listed in a safety alert.",
    "content_type": ["CONTENT_TYPE_PRODUCT", "CONTENT_TYPE_IMAGE", "CONTENT_TYPE_OTHER"],
    "content_type_other": "Variant selector",
    "category": "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "category_addition": ["STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"],
    "category_specification": ["KEYWORD_UNSAFE_PRODUCTS", "KEYWORD_OTHER"],
    "category_specification_other": "Relisted recalled model",
    "territorial_scope": ["AT", "DE", "NL"],
    "content_language": "DE",
    "content_date": "2026-06-28",
    "application_date": "2026-07-01",
    "decision_facts": "Trusted-flagger notice; image match; moderator confirmed.",
    "source_type": "SOURCE_TRUSTED_FLAGGER",
    "source_identity": "Consumer association",
    "automated_detection": "Yes",
    "automated_decision": "AUTOMATED_DECISION_PARTIALLY",
    "puid": "listing_9f3c2a71",
    "content_id": {"EAN-13": "2001234567893"},
}


def test_the_reference_examples_pass() -> None:
    assert problems(MINIMAL) == []
    assert problems(FULL) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"decision_visibility": None}, "decision_visibility"),  # no restriction at all
        ({"decision_visibility": []}, "decision_visibility"),
        ({"decision_visibility": ["DECISION_VISIBILITY_OTHER"]}, "decision_visibility_other"),
        ({"decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT"}, "illegal_content_legal_ground"),
        ({"incompatible_content_explanation": ""}, "incompatible_content_explanation"),
        ({"illegal_content_legal_ground": "Some law"}, "illegal_content_legal_ground"),  # wrong pair
        ({"content_type": []}, "content_type"),
        ({"content_type": ["CONTENT_TYPE_OTHER"]}, "content_type_other"),
        ({"category": "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT"}, "category"),  # v1 value
        ({"category_addition": None}, "category_addition"),
        ({"category_specification": ["KEYWORD_DANGEROUS_TOYS"]}, "category_specification"),
        ({"territorial_scope": ["EL"]}, "territorial_scope"),  # Greece is GR
        ({"territorial_scope": None}, "territorial_scope"),
        ({"content_language": "de"}, "content_language"),
        ({"content_date": "2026-7-1"}, "content_date"),
        ({"content_date": "2026-02-30"}, "content_date"),
        ({"content_date": "1999-12-31"}, "content_date"),
        ({"application_date": "2019-12-31"}, "application_date"),
        ({"end_date_visibility_restriction": "2026-06-30"}, "end_date_visibility_restriction"),
        ({"decision_facts": "x" * 5001}, "decision_facts"),
        ({"decision_facts": "null"}, "decision_facts"),
        ({"decision_facts": "Reported by jane.doe@example.org"}, "decision_facts"),
        ({"automated_detection": True}, "automated_detection"),
        ({"automated_decision": "Yes"}, "automated_decision"),
        ({"source_type": "SOURCE_VOLUNTARY", "source_identity": "Someone"}, "source_identity"),
        ({"puid": "has space"}, "puid"),
        ({"puid": 12345}, "puid"),
        ({"puid": "x" * 501}, "puid"),
        ({"content_id": {"EAN-13": "123"}}, "content_id"),
        ({"decision_ground_reference_url": "/relative"}, "decision_ground_reference_url"),
        ({"incompatible_content_illegal": "Maybe"}, "incompatible_content_illegal"),
        ({"surprise": "field"}, "surprise"),
    ],
)
def test_each_rule_is_enforced(change: dict[str, Any], field: str) -> None:
    statement = {**MINIMAL, **change}
    assert field in {f for f, _ in problems(statement)}


def test_incompatible_content_illegal_only_goes_with_its_ground() -> None:
    assert problems({**MINIMAL, "incompatible_content_illegal": "Yes"}) == []
    illegal = {
        **{k: v for k, v in MINIMAL.items() if not k.startswith("incompatible")},
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "illegal_content_legal_ground": "Law",
        "illegal_content_explanation": "Why",
    }
    assert problems(illegal) == []
    assert [f for f, _ in problems({**illegal, "incompatible_content_illegal": "No"})] == [
        "incompatible_content_illegal"
    ]


def _policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", target)
    return target


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("puid_prefix: mod", "puid_prefix: mod ule", "platform.puid_prefix"),
        ('MT, NL, "NO", PL', "MT, NL, NO, PL", "territorial_scope"),  # unquoted NO is YAML false
        (
            "    category: STATEMENT_CATEGORY_VIOLENCE\n",
            "    category: STATEMENT_CATEGORY_GORE\n",
            "category",
        ),
        ("keywords: [KEYWORD_HATE_SPEECH]", "keywords: [KEYWORD_HATE]", "keywords"),
        ("    ground: copyright\n", "    ground: copyrite\n", "unknown ground"),
        ("  us-dmca:\n", "  us-dmcaa:\n", "no regime with this id"),
        ("    visibility_other: Held back", "    visibility_oth: Held back", "review_hold"),
        (
            "    explanation: The content matches known child sexual abuse material.",
            "    explanation: Reported by someone@example.org.",
            "would produce an invalid statement",
        ),
    ],
)
def test_a_bad_statements_policy_is_refused_at_start_up(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    policies = _policy_copy(tmp_path)
    path = policies / "statements.yaml"
    original = path.read_text()
    assert old in original
    path.write_text(original.replace(old, new, 1))
    with pytest.raises(PolicyError) as raised:
        load_policy(policies)
    assert "policies/statements.yaml" in str(raised.value) and message in str(raised.value)


def test_the_shipped_policy_loads() -> None:
    load_policy(PROJECT_ROOT / "policies")
