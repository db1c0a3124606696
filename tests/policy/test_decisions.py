"""The decision policy: the shipped file loads, broken copies fail naming file and field, normalisation."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from moderation.config import PROJECT_ROOT
from moderation.exceptions import PolicyError
from moderation.policy.decisions import load_decisions, plain_form, tokens
from moderation.policy.loader import load_policy, policy_version

POLICIES = PROJECT_ROOT / "policies"


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def _edit(policies: Path, change: Any) -> None:
    path = policies / "profiles" / "general.yaml"
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw))


def test_shipped_policy_loads_with_rule_ids_everywhere() -> None:
    policy = load_decisions(POLICIES, "general")
    rules = list(policy.rule_ids())
    assert "bank.block" in rules and "classifier.unavailable" in rules and "prompt.minor" in rules
    assert len(rules) == len(set(rules))
    assert policy.banks.allow_list.suppresses == ("bank",)
    assert policy.on_classifier_unavailable.for_source("generated") == "review"
    assert policy.on_classifier_unavailable.for_source("anything-else") == "review"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r["banks"]["actions"]["block"].update(decision="delete"), "banks.actions.block.decision"),
        (lambda r: r["banks"]["actions"].pop("review"), "banks"),
        (lambda r: r["on_classifier_unavailable"].pop("generated"), "on_classifier_unavailable.generated"),
        (
            lambda r: r["prompt_screening"]["rules"][0]["patterns"].append("(unclosed"),
            "prompt_screening.rules[0].patterns",
        ),
        (lambda r: r["prompt_screening"]["rules"][0].update(id="Bad Id"), "prompt_screening.rules[0].id"),
        (lambda r: r["classifier"]["review"].update(risk=2), "classifier.review.risk"),
        (
            lambda r: r["prompt_screening"]["rules"][1].update(id="prompt.minor"),
            "rule id 'prompt.minor' is used twice",
        ),
        (
            lambda r: r["classifier"]["combinations"][0].update(categories=["sexual", "nope"]),
            "classifier.combinations[0].categories",
        ),
        (lambda r: r.update(surprise=1), "surprise"),
    ],
)
def test_invalid_policy_names_file_and_field(policies: Path, change: Any, field: str) -> None:
    _edit(policies, change)
    with pytest.raises(PolicyError) as exc:
        load_policy(policies)
    message = str(exc.value)
    assert "general.yaml" in message and field in message, message


def test_missing_file_is_a_policy_error(policies: Path) -> None:
    (policies / "profiles" / "general.yaml").unlink()
    with pytest.raises(
        PolicyError, match=r"general\.yaml: no such decision profile 'general'.*available: adult"
    ):
        load_decisions(policies, "general")
    shutil.rmtree(policies / "profiles")
    with pytest.raises(PolicyError, match=r"decisions\.yaml: policy file is missing"):
        load_decisions(policies, "general")


def test_editing_the_policy_changes_the_version(policies: Path) -> None:
    before = policy_version(policies)
    _edit(policies, lambda r: r["on_classifier_disabled"].update(upload="review"))
    assert policy_version(policies) != before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("K1D", ["kid"]),
        ("u.n.d.e.r-a.g.e", ["underage"]),
        ("ＣＨＩＬＤ", ["child"]),
        ("chïld", ["child"]),
        ("k i d s", ["kids"]),
        ("a b", ["a", "b"]),
        ("zero\u200bwidth", ["zerowidth"]),
        ("$ch00l g1rl", ["school", "girl"]),
        ("aged 16", ["aged", "16"]),
    ],
)
def test_token_normalisation(text: str, expected: list[str]) -> None:
    assert tokens(text, load_decisions(POLICIES, "general").prompt_screening.normalisation) == expected


def test_screening_respects_word_boundaries_and_keeps_digits_for_patterns() -> None:
    policy = load_decisions(POLICIES, "general")
    screener = policy.screener()
    assert [h.rule for h in screener.screen("A photo of kidney beans and a skidoo")] == []
    assert [h.rule for h in screener.screen("a 15yo")] == ["prompt.minor"]
    assert [h.rule for h in screener.screen("an adult aged 30")] == []
    assert [h.rule for h in screener.screen("a y o u n g woman")] == ["prompt.ambiguous_age"]
    assert plain_form("  Héllo\tWORLD ", policy.prompt_screening.normalisation) == "hello world"


def test_both_shipped_profiles_load_and_differ_in_version() -> None:
    general = load_decisions(POLICIES, "general")
    adult = load_decisions(POLICIES, "adult")
    assert general.classifier.outcome("sexual", "review").decision == "review"
    assert general.classifier.outcome("sexual", "block").decision == "block"
    assert adult.classifier.outcome("sexual", "review").label == "explicit"
    assert adult.classifier.outcome("sexual", "block").decision == "allow"
    assert adult.classifier.outcome("violence_gore", "block").decision == "block"
    assert general.unscored.for_category("minor_present", "generated") == "allow"
    assert adult.unscored.for_category("sexual", "generated") == "review"
    assert adult.unscored.for_category("sexual", "upload") == "allow"
    when = adult.classifier.combinations[0].when_unscored
    assert when is not None and when.decisions.for_source("generated") == "review"
    assert general.classifier.combinations[0].when_unscored is None
    assert load_policy(POLICIES, "general").version != load_policy(POLICIES, "adult").version
    assert policy_version(POLICIES, "general") != policy_version(POLICIES)


def test_unknown_profile_and_unknown_categories_are_policy_errors(policies: Path) -> None:
    with pytest.raises(PolicyError, match=r"no such decision profile 'strict'.*available: adult, general"):
        load_policy(policies, "strict")
    _edit(
        policies,
        lambda r: r["unscored"]["categories"].update(
            nope={"upload": "allow", "generated": "allow", "unknown": "allow"}
        ),
    )
    with pytest.raises(
        PolicyError, match=r"general\.yaml: unscored\.categories: unknown classifier categories nope"
    ):
        load_policy(policies, "general")


def test_profile_setting_refuses_path_like_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from moderation.config import Settings

    with pytest.raises(ValidationError):
        Settings(policy_profile="../etc")
