"""Policy part `decisions`: how bank matches, classifier findings and prompt screening become a decision.

Outcomes are ordered allow < review < block and the strictest finding wins. Every finding names the
rule id it came from. Prompt screening normalises text before matching (documented in docs/checks.md):

- `patterns` (regular expressions) run on the *plain* form: NFKC, case-folded, accents stripped,
  whitespace collapsed to single spaces. Pattern authors write their own `\\b` word boundaries.
- `terms` run on the *token* form: the plain form split on whitespace; in every token holding a
  letter, leetspeak characters are mapped to letters (`leetspeak` table); then every character that is
  not a letter or digit is dropped inside a token (`u.n.d.e.r` -> `under`); runs of single-letter
  tokens are joined (`k i d` -> `kid`; inside such a run a one-word term may match anywhere,
  since the run has no reliable word boundaries). A term (normalised the same way) matches whole tokens only,
  and a several-word term matches consecutive tokens, so `kid` never matches `kidney`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from moderation.exceptions import PolicyError
from moderation.policy.categories import FILENAME as CATEGORIES_FILENAME
from moderation.policy.categories import load_categories
from moderation.policy.loader import Policy, read_yaml, register_part

FILENAME = "decisions.yaml"
PROFILES_DIR = "profiles"

Decision = Literal["allow", "review", "block"]
Source = Literal["upload", "generated", "unknown"]
FindingKind = Literal["bank", "classifier", "prompt"]

DECISION_RANK: dict[str, int] = {"allow": 0, "review": 1, "block": 2}

_RULE_ID = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*$")
RuleId = Annotated[str, Field(min_length=1, max_length=100)]
Risk = Annotated[float, Field(ge=0.0, le=1.0)]


def strictest(decisions: list[str]) -> str:
    """The strictest of `decisions` (allow when empty)."""
    return max(decisions, key=DECISION_RANK.__getitem__, default="allow")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_rule(value: str) -> str:
    if not _RULE_ID.fullmatch(value):
        raise ValueError("rule ids are dotted lower_snake_case, e.g. `bank.block`")
    return value


class Outcome(_Frozen):
    """What a finding leads to, under which rule id, and how it ranks in the review queue. `label`
    (e.g. `explicit`) is attached to the finding so a platform can label content it allows."""

    decision: Decision
    rule: RuleId
    risk: Risk = 0.5
    label: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    _rule = field_validator("rule")(_check_rule)


class AllowList(_Frozen):
    """An allow-list bank match suppresses findings of the kinds listed in `suppresses`.
    Bank matches only by default: a classifier or prompt finding still counts on allow-listed content."""

    rule: RuleId = "bank.allow_list"
    suppresses: tuple[FindingKind, ...] = ("bank",)

    _rule = field_validator("rule")(_check_rule)


class BankPolicy(_Frozen):
    """Outcome per bank action (`block`, `review`); allow-list banks follow `allow_list`."""

    actions: dict[Literal["block", "review"], Outcome]
    allow_list: AllowList = AllowList()

    @model_validator(mode="after")
    def _both_actions(self) -> BankPolicy:
        missing = {"block", "review"} - set(self.actions)
        if missing:
            raise ValueError(f"actions must define {', '.join(sorted(missing))}")
        return self


class PerSource(_Frozen):
    """One decision per content source."""

    upload: Decision
    generated: Decision
    unknown: Decision

    def for_source(self, source: str) -> Decision:
        value: Decision = getattr(self, source if source in ("upload", "generated") else "unknown")
        return value


class UnscoredCombination(_Frozen):
    """A combination whose categories all fired or could not be scored (at least one of each)."""

    rule: RuleId
    decisions: PerSource
    risk: Risk = 0.6

    _rule = field_validator("rule")(_check_rule)


class Combination(_Frozen):
    """When every listed category's review threshold fired on one image, this outcome applies.
    `when_unscored` applies when the others fired but some listed category had no model to score it."""

    rule: RuleId
    categories: Annotated[tuple[str, ...], Field(min_length=2)]
    decision: Decision
    risk: Risk = 1.0
    when_unscored: UnscoredCombination | None = None

    _rule = field_validator("rule")(_check_rule)


class CategoryOutcomes(_Frozen):
    """A category's own outcomes, replacing `classifier.review` / `classifier.block` for it."""

    review: Outcome | None = None
    block: Outcome | None = None


class UnscoredPolicy(_Frozen):
    """What a category that no available model could score means, per content source: `default`
    for every category, `categories` for particular ones. Applies only while some model is ready;
    with none ready, `on_classifier_unavailable` applies instead."""

    rule: RuleId = "classifier.unscored"
    risk: Risk = 0.1
    default: PerSource = PerSource(upload="allow", generated="allow", unknown="allow")
    categories: dict[str, PerSource] = Field(default_factory=dict)

    _rule = field_validator("rule")(_check_rule)

    def for_category(self, category: str, source: str) -> Decision:
        return self.categories.get(category, self.default).for_source(source)


class Fallback(_Frozen):
    """The outcome when the classifier cannot score an image, per content source."""

    rule: RuleId
    upload: Decision
    generated: Decision
    unknown: Decision
    risk: Risk = 0.1

    _rule = field_validator("rule")(_check_rule)

    def for_source(self, source: str) -> Decision:
        value: Decision = getattr(self, source if source in ("upload", "generated") else "unknown")
        return value


class ClassifierPolicy(_Frozen):
    """Outcomes of the categories' own thresholds (classifier.yaml) plus cross-category combinations.
    `child_safety_risk_bonus` ranks child-safety findings first in the review queue."""

    review: Outcome
    block: Outcome
    categories: dict[str, CategoryOutcomes] = Field(default_factory=dict)
    combinations: tuple[Combination, ...] = ()
    child_safety_risk_bonus: Risk = 0.5

    def outcome(self, category: str, level: str) -> Outcome:
        """The outcome of `category`'s `level` (review/block) threshold firing."""
        own = self.categories.get(category)
        chosen = (own.block if level == "block" else own.review) if own else None
        return chosen or (self.block if level == "block" else self.review)


class PromptRule(_Frozen):
    """Terms and patterns that, found in a generated output's prompt, lead to `decision`."""

    id: RuleId
    decision: Decision
    description: str = ""
    risk: Risk = 0.8
    terms: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = ()
    patterns: tuple[Annotated[str, Field(min_length=1, max_length=500)], ...] = ()

    _rule = field_validator("id")(_check_rule)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, pattern in enumerate(value):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"pattern {index} ({pattern!r}) is not a valid regular expression: {exc}"
                ) from exc
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> PromptRule:
        if not self.terms and not self.patterns:
            raise ValueError("a prompt rule needs at least one term or pattern")
        return self


class Normalisation(_Frozen):
    """Switches for the prompt normalisation steps (all on by default)."""

    nfkc: bool = True
    casefold: bool = True
    strip_accents: bool = True
    leetspeak: dict[Annotated[str, Field(min_length=1, max_length=1)], str] = Field(
        default_factory=lambda: {
            "0": "o",
            "1": "i",
            "3": "e",
            "4": "a",
            "5": "s",
            "7": "t",
            "@": "a",
            "$": "s",
        }
    )
    strip_punctuation: bool = True
    join_spaced_letters: bool = True


class PromptScreening(_Frozen):
    normalisation: Normalisation = Normalisation()
    rules: tuple[PromptRule, ...] = ()
    max_prompt_chars: Annotated[int, Field(gt=0)] = 10_000


class ReviewPolicy(_Frozen):
    """Risk of a `review` decision with no finding of its own (it never is, but it must rank somewhere)."""

    default_risk: Risk = 0.5


class DecisionPolicy(_Frozen):
    """The whole decision policy, validated; `policy_version` is the version of the policy directory."""

    banks: BankPolicy
    classifier: ClassifierPolicy
    on_classifier_unavailable: Fallback
    on_classifier_disabled: Fallback
    unscored: UnscoredPolicy = UnscoredPolicy()
    prompt_screening: PromptScreening = PromptScreening()
    review: ReviewPolicy = ReviewPolicy()
    source: str = ""

    @model_validator(mode="after")
    def _unique_rule_ids(self) -> DecisionPolicy:
        seen: set[str] = set()
        for rule in self.rule_ids():
            if rule in seen:
                raise ValueError(f"rule id '{rule}' is used twice")
            seen.add(rule)
        return self

    def rule_ids(self) -> Iterator[str]:
        for action in ("block", "review"):
            yield self.banks.actions[action].rule
        yield self.banks.allow_list.rule
        yield self.classifier.review.rule
        yield self.classifier.block.rule
        for outcomes in self.classifier.categories.values():
            yield from (o.rule for o in (outcomes.review, outcomes.block) if o is not None)
        for combination in self.classifier.combinations:
            yield combination.rule
            if combination.when_unscored is not None:
                yield combination.when_unscored.rule
        yield self.unscored.rule
        yield self.on_classifier_unavailable.rule
        yield self.on_classifier_disabled.rule
        yield from (r.id for r in self.prompt_screening.rules)

    def screener(self) -> PromptScreener:
        return _screener(self)


# --- prompt normalisation and screening -------------------------------------------------------


def plain_form(text: str, norm: Normalisation) -> str:
    """NFKC, case-folded, accents stripped, whitespace collapsed: what `patterns` are matched against."""
    if norm.nfkc:
        text = unicodedata.normalize("NFKC", text)
    if norm.casefold:
        text = text.casefold()
    if norm.strip_accents:
        decomposed = unicodedata.normalize("NFKD", text)
        text = unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))
    # Zero-width and other format characters are a common way to split a word invisibly.
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return " ".join(text.split())


def tokens(text: str, norm: Normalisation) -> list[str]:
    """The token form `terms` are matched against (see the module docstring)."""
    return token_form(text, norm)[0]


def token_form(text: str, norm: Normalisation) -> tuple[list[str], list[str]]:
    """The tokens, and the runs of spaced-out single letters that were joined into one token."""
    out: list[str] = []
    for raw in plain_form(text, norm).split(" "):
        token = raw
        if norm.leetspeak and any(c.isalpha() for c in token):
            token = "".join(norm.leetspeak.get(c, c) for c in token)
        if norm.strip_punctuation:
            token = "".join(c for c in token if c.isalnum())
        if token:
            out.append(token)
    if norm.join_spaced_letters:
        return _join_single_letters(out)
    return out, []


def _join_single_letters(items: list[str]) -> tuple[list[str], list[str]]:
    joined: list[str] = []
    runs: list[str] = []
    run: list[str] = []
    for token in [*items, ""]:
        if len(token) == 1 and token.isalpha():
            run.append(token)
            continue
        if len(run) >= 3:
            joined.append("".join(run))
            runs.append(joined[-1])
        else:
            joined.extend(run)
        run = []
        if token:
            joined.append(token)
    return joined, runs


@dataclass(frozen=True)
class PromptHit:
    """One prompt rule that fired, with what matched (`term` or `pattern`) in its normalised form."""

    rule: str
    decision: str
    risk: float
    term: str | None = None
    pattern: str | None = None
    matched: str = ""


class PromptScreener:
    """Compiled prompt rules of one decision policy (built once per policy version)."""

    def __init__(self, screening: PromptScreening) -> None:
        self.screening = screening
        norm = screening.normalisation
        self._terms: list[tuple[PromptRule, str, tuple[str, ...]]] = []
        for rule in screening.rules:
            for term in rule.terms:
                normalised = tuple(tokens(term, norm))
                if normalised:
                    self._terms.append((rule, " ".join(normalised), normalised))
        self._patterns = [
            (rule, pattern, re.compile(pattern)) for rule in screening.rules for pattern in rule.patterns
        ]

    def screen(self, prompt: str | None) -> list[PromptHit]:
        """Every rule that fires on `prompt`, at most one hit per rule (the first term, else pattern)."""
        if not prompt:
            return []
        norm = self.screening.normalisation
        prompt = prompt[: self.screening.max_prompt_chars]
        token_list, runs = token_form(prompt, norm)
        padded = " " + " ".join(token_list) + " "
        hits: dict[str, PromptHit] = {}
        for rule, text, parts in self._terms:
            if rule.id in hits:
                continue
            # A spaced-out run has no reliable word boundaries ("a d e e p f a k e"): search inside it.
            if f" {text} " in padded or (len(parts) == 1 and any(text in run for run in runs)):
                hits[rule.id] = PromptHit(rule.id, rule.decision, rule.risk, term=text, matched=text)
        if self._patterns:
            plain = plain_form(prompt, norm)
            for rule, pattern, compiled in self._patterns:
                if rule.id in hits:
                    continue
                found = compiled.search(plain)
                if found:
                    hits[rule.id] = PromptHit(
                        rule.id, rule.decision, rule.risk, pattern=pattern, matched=found.group(0)[:100]
                    )
        return list(hits.values())


_screeners: dict[int, PromptScreener] = {}


def _screener(policy: DecisionPolicy) -> PromptScreener:
    key = id(policy)
    screener = _screeners.get(key)
    if screener is None or screener.screening is not policy.prompt_screening:
        screener = _screeners[key] = PromptScreener(policy.prompt_screening)
    return screener


# --- loading ---------------------------------------------------------------------------------


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_decisions(raw: Any, path: Path) -> DecisionPolicy:
    """Validate parsed decisions.yaml; raises `PolicyError` naming `path` and the field."""
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: expected a mapping at the top level")
    try:
        policy = DecisionPolicy.model_validate({**raw, "source": str(path)})
    except ValidationError as exc:
        err = exc.errors()[0]
        message = err["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise PolicyError(f"{path}: {_where(tuple(err['loc']))}: {message}{more}") from exc
    return policy


def decisions_path(policies_dir: Path, profile: str | None) -> Path:
    """`profiles/<profile>.yaml` when the directory has profiles, else its `decisions.yaml`."""
    profiles = policies_dir / PROFILES_DIR
    if profile is not None and profiles.is_dir():
        path = profiles / f"{profile}.yaml"
        if not path.is_file():
            available = ", ".join(sorted(p.stem for p in profiles.glob("*.yaml"))) or "none"
            raise PolicyError(
                f"{path}: no such decision profile '{profile}' (MODERATION_POLICY_PROFILE; "
                f"available: {available})"
            )
        return path
    return policies_dir / FILENAME


def load_decisions(policies_dir: Path, profile: str | None = None) -> DecisionPolicy:
    """Load and validate the decision profile `profile` (or `decisions.yaml`) of `policies_dir`."""
    path = decisions_path(policies_dir, profile)
    policy = parse_decisions(read_yaml(path), path)
    if (policies_dir / CATEGORIES_FILENAME).is_file():
        known = set(load_categories(policies_dir).ids)

        def check(where: str, ids: Iterator[str] | tuple[str, ...]) -> None:
            unknown = [c for c in ids if c not in known]
            if unknown:
                raise PolicyError(
                    f"{path}: {where}: unknown classifier categories {', '.join(unknown)} "
                    f"(known: {', '.join(sorted(known))})"
                )

        for index, combination in enumerate(policy.classifier.combinations):
            check(f"classifier.combinations[{index}].categories", combination.categories)
        check("classifier.categories", tuple(policy.classifier.categories))
        check("unscored.categories", tuple(policy.unscored.categories))
    return policy


def get_decisions(policy: Policy) -> DecisionPolicy:
    """The decision part of a loaded policy (loaded once per `Policy`, for its profile)."""
    part: DecisionPolicy = policy.part("decisions", load_decisions)
    return part


register_part("decisions", load_decisions, profiled=True)
