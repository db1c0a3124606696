"""The DSA Transparency Database statement-of-reasons format (schema v2) and a strict validator.

Pure: a statement is a JSON-ready dict; `problems(statement)` lists every rule it breaks as
(field, message) pairs, empty when it passes. Stricter than the server where the reference says the
server is lax (text must be a string, the string "null" is never a value, unknown fields are refused,
`territorial_scope` and end dates >= `application_date` are required as the documentation says).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any


def _words(text: str) -> list[str]:
    return text.split()


VISIBILITY = frozenset(
    {
        "DECISION_VISIBILITY_CONTENT_REMOVED",
        "DECISION_VISIBILITY_CONTENT_DISABLED",
        "DECISION_VISIBILITY_CONTENT_DEMOTED",
        "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_LABELLED",
        "DECISION_VISIBILITY_OTHER",
    }
)
MONETARY = frozenset(
    {"DECISION_MONETARY_SUSPENSION", "DECISION_MONETARY_TERMINATION", "DECISION_MONETARY_OTHER"}
)
PROVISION = frozenset(
    {
        "DECISION_PROVISION_PARTIAL_SUSPENSION",
        "DECISION_PROVISION_TOTAL_SUSPENSION",
        "DECISION_PROVISION_PARTIAL_TERMINATION",
        "DECISION_PROVISION_TOTAL_TERMINATION",
    }
)
ACCOUNT = frozenset({"DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"})
ACCOUNT_TYPE = frozenset({"ACCOUNT_TYPE_BUSINESS", "ACCOUNT_TYPE_PRIVATE"})
GROUND_ILLEGAL = "DECISION_GROUND_ILLEGAL_CONTENT"
GROUND_INCOMPATIBLE = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
GROUNDS = frozenset({GROUND_ILLEGAL, GROUND_INCOMPATIBLE})
CONTENT_TYPE = frozenset(
    {
        "CONTENT_TYPE_APP",
        "CONTENT_TYPE_AUDIO",
        "CONTENT_TYPE_IMAGE",
        "CONTENT_TYPE_PRODUCT",
        "CONTENT_TYPE_SYNTHETIC_MEDIA",
        "CONTENT_TYPE_TEXT",
        "CONTENT_TYPE_VIDEO",
        "CONTENT_TYPE_OTHER",
    }
)
CATEGORY = frozenset(
    "STATEMENT_CATEGORY_" + name
    for name in _words(
        "ANIMAL_WELFARE CONSUMER_INFORMATION CYBER_VIOLENCE CYBER_VIOLENCE_AGAINST_WOMEN "
        "DATA_PROTECTION_AND_PRIVACY_VIOLATIONS ILLEGAL_OR_HARMFUL_SPEECH "
        "INTELLECTUAL_PROPERTY_INFRINGEMENTS "
        "NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS NOT_SPECIFIED_NOTICE OTHER_VIOLATION_TC "
        "PROTECTION_OF_MINORS RISK_FOR_PUBLIC_SECURITY SCAMS_AND_FRAUD SELF_HARM "
        "UNSAFE_AND_PROHIBITED_PRODUCTS VIOLENCE"
    )
)
KEYWORD = frozenset(
    "KEYWORD_" + name
    for name in _words(
        "ADULT_SEXUAL_MATERIAL AGE_SPECIFIC_RESTRICTIONS AGE_SPECIFIC_RESTRICTIONS_MINORS ANIMAL_HARM "
        "BIOMETRIC_DATA_BREACH BULLYING_AGAINST_GIRLS CHILD_SEXUAL_ABUSE_MATERIAL "
        "CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE CONTENT_PROMOTING_EATING_DISORDERS COORDINATED_HARM "
        "COPYRIGHT_INFRINGEMENT CYBER_BULLYING_INTIMIDATION CYBER_HARASSMENT CYBER_HARASSMENT_AGAINST_WOMEN "
        "CYBER_INCITEMENT CYBER_STALKING CYBER_STALKING_AGAINST_WOMEN DATA_FALSIFICATION DEFAMATION "
        "DESIGN_INFRINGEMENT DISCRIMINATION FEMALE_GENDERED_DISINFORMATION GEOGRAPHICAL_REQUIREMENTS "
        "GEOGRAPHIC_INDICATIONS_INFRINGEMENT GOODS_SERVICES_NOT_PERMITTED GROOMING_SEXUAL_ENTICEMENT_MINORS "
        "HATE_SPEECH HIDDEN_ADVERTISEMENT HUMAN_EXPLOITATION HUMAN_TRAFFICKING ILLEGAL_ORGANIZATIONS "
        "IMPERSONATION_ACCOUNT_HIJACKING INAUTHENTIC_ACCOUNTS INAUTHENTIC_LISTINGS INAUTHENTIC_USER_REVIEWS "
        "INCITEMENT_AGAINST_WOMEN INCITEMENT_VIOLENCE_HATRED INSUFFICIENT_INFORMATION_ON_TRADERS "
        "LANGUAGE_REQUIREMENTS MISINFORMATION_DISINFORMATION MISLEADING_INFO_CONSUMER_RIGHTS "
        "MISLEADING_INFO_GOODS_SERVICES MISSING_PROCESSING_GROUND NONCOMPLIANCE_PRICING "
        "NON_CONSENSUAL_IMAGE_SHARING NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN "
        "NON_CONSENSUAL_MATERIAL_DEEPFAKE NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN NUDITY OTHER "
        "PATENT_INFRINGEMENT PHISHING PROHIBITED_PRODUCTS PYRAMID_SCHEMES RIGHT_TO_BE_FORGOTTEN "
        "RISK_ENVIRONMENTAL_DAMAGE RISK_PUBLIC_HEALTH SELF_MUTILATION STALKING SUICIDE TERRORIST_CONTENT "
        "TRADEMARK_INFRINGEMENT TRADE_SECRET_INFRINGEMENT TRAFFICKING_WOMEN_GIRLS UNLAWFUL_SALE_ANIMALS "
        "UNSAFE_CHALLENGES UNSAFE_PRODUCTS VIOLATION_EU_LAW VIOLATION_NATIONAL_LAW"
    )
)
TERRITORIES = frozenset(
    _words("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI SK")
)
LANGUAGES = frozenset(
    _words(
        "AA AB AE AF AK AM AN AR AS AV AY AZ BA BE BG BH BI BM BN BO BR BS CA CE CH CO CR CS CU CV CY DA DE "
        "DV DZ EE EL EN EO ES ET EU FA FF FI FJ FO FR FY GA GD GL GN GU GV HA HE HI HO HR HT HU HY HZ IA ID "
        "IE IG II IK IO IS IT IU JA JV KA KG KI KJ KK KL KM KN KO KR KS KU KV KW KY LA LB LG LI LN LO LT LU "
        "LV MG MH MI MK ML MN MR MS MT MY NA NB ND NE NG NL NN NO NR NV NY OC OJ OM OR OS PA PI PL PS PT QU "
        "RM RN RO RU RW SA SC SD SE SG SI SK SL SM SN SO SQ SR SS ST SU SV SW TA TE TG TH TI TK TL TN TO TR "
        "TS TT TW TY UG UK UR UZ VE VI VO WA WO XH YI YO ZA ZH ZU"
    )
)
SOURCE_ARTICLE_16 = "SOURCE_ARTICLE_16"
SOURCE_TRUSTED_FLAGGER = "SOURCE_TRUSTED_FLAGGER"
SOURCE_OTHER_NOTIFICATION = "SOURCE_TYPE_OTHER_NOTIFICATION"
SOURCE_VOLUNTARY = "SOURCE_VOLUNTARY"
SOURCES = frozenset({SOURCE_ARTICLE_16, SOURCE_TRUSTED_FLAGGER, SOURCE_OTHER_NOTIFICATION, SOURCE_VOLUNTARY})
AUTOMATED_FULLY = "AUTOMATED_DECISION_FULLY"
AUTOMATED_PARTIALLY = "AUTOMATED_DECISION_PARTIALLY"
NOT_AUTOMATED = "AUTOMATED_DECISION_NOT_AUTOMATED"
AUTOMATED_DECISION = frozenset({AUTOMATED_FULLY, AUTOMATED_PARTIALLY, NOT_AUTOMATED})
YES_NO = frozenset({"Yes", "No"})

MAX_BATCH = 100
PUID = re.compile(r"^[A-Za-z0-9_-]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EAN13 = re.compile(r"^\d{13}$")
# Free text goes to a public database: an e-mail address in it is personal data.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

END_DATES = (
    "end_date_visibility_restriction",
    "end_date_monetary_restriction",
    "end_date_service_restriction",
    "end_date_account_restriction",
)
# field -> maximum length; every free-text field of the format.
TEXT_FIELDS: Mapping[str, int] = {
    "decision_visibility_other": 500,
    "decision_monetary_other": 500,
    "decision_ground_reference_url": 500,
    "illegal_content_legal_ground": 500,
    "illegal_content_explanation": 2000,
    "incompatible_content_ground": 500,
    "incompatible_content_explanation": 2000,
    "content_type_other": 500,
    "category_specification_other": 500,
    "source_identity": 500,
    "decision_facts": 5000,
    "puid": 500,
}
ENUM_FIELDS: Mapping[str, frozenset[str]] = {
    "decision_monetary": MONETARY,
    "decision_provision": PROVISION,
    "decision_account": ACCOUNT,
    "account_type": ACCOUNT_TYPE,
    "decision_ground": GROUNDS,
    "incompatible_content_illegal": YES_NO,
    "category": CATEGORY,
    "content_language": LANGUAGES,
    "source_type": SOURCES,
    "automated_detection": YES_NO,
    "automated_decision": AUTOMATED_DECISION,
}
LIST_FIELDS: Mapping[str, frozenset[str]] = {
    "decision_visibility": VISIBILITY,
    "content_type": CONTENT_TYPE,
    "category_addition": CATEGORY,
    "category_specification": KEYWORD,
    "territorial_scope": TERRITORIES,
}
DATE_FIELDS: Mapping[str, tuple[date, date]] = {
    "content_date": (date(2000, 1, 1), date(2038, 1, 1)),
    "application_date": (date(2020, 1, 1), date(2038, 1, 1)),
    **{name: (date(2000, 1, 1), date(2038, 1, 1)) for name in END_DATES},
}
REQUIRED = (
    "decision_ground",
    "content_type",
    "category",
    "territorial_scope",
    "content_date",
    "application_date",
    "decision_facts",
    "source_type",
    "automated_detection",
    "automated_decision",
    "puid",
)
KNOWN_FIELDS = frozenset({*TEXT_FIELDS, *ENUM_FIELDS, *LIST_FIELDS, *DATE_FIELDS, "content_id", *REQUIRED})

Problem = tuple[str, str]


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or (isinstance(value, str) and not value.strip())


def _parse_date(value: Any) -> date | None:
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _check_values(statement: Mapping[str, Any], out: list[Problem]) -> None:
    for name, limit in TEXT_FIELDS.items():
        value = statement.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            out.append((name, "must be a string"))
        elif value.strip().lower() == "null" or not value.strip():
            out.append((name, "must not be blank or the string 'null'"))
        elif len(value.strip()) > limit:
            out.append((name, f"longer than {limit} characters"))
        elif name != "puid" and _EMAIL.search(value):
            out.append((name, "contains an e-mail address (no personal data may be submitted)"))
    for name, allowed in ENUM_FIELDS.items():
        value = statement.get(name)
        if value is not None and (not isinstance(value, str) or value not in allowed):
            out.append((name, f"{value!r} is not an allowed value"))
    for name, allowed in LIST_FIELDS.items():
        value = statement.get(name)
        if value is None:
            continue
        if not isinstance(value, list):
            out.append((name, "must be a list"))
            continue
        bad = [v for v in value if not isinstance(v, str) or v not in allowed]
        if bad:
            out.append((name, f"not allowed: {bad!r}"))
        if len(set(map(str, value))) != len(value):
            out.append((name, "has duplicate values"))
    for name, (earliest, latest) in DATE_FIELDS.items():
        value = statement.get(name)
        if value is None:
            continue
        parsed = _parse_date(value)
        if parsed is None:
            out.append((name, "must be a real date written YYYY-MM-DD"))
        elif not earliest <= parsed <= latest:
            out.append((name, f"must be between {earliest} and {latest}"))


def problems(statement: Mapping[str, Any]) -> list[Problem]:
    """Every rule of the reference format that `statement` breaks; [] when it is valid."""
    out: list[Problem] = []
    unknown = sorted(set(statement) - KNOWN_FIELDS)
    out.extend((name, "is not a field of the format") for name in unknown)
    out.extend((name, "is required") for name in REQUIRED if _blank(statement.get(name)))
    _check_values(statement, out)

    puid = statement.get("puid")
    if isinstance(puid, str) and puid and not PUID.match(puid):
        out.append(("puid", "may hold only ASCII letters, digits, '-' and '_'"))
    if "category_addition" in statement and statement["category_addition"] is None:
        out.append(("category_addition", "omit it or send [], never null"))

    decisions = ("decision_visibility", "decision_monetary", "decision_provision", "decision_account")
    if all(_blank(statement.get(name)) for name in decisions):
        out.append(("decision_visibility", f"at least one of {', '.join(decisions)} is required"))

    for value_field, value, text_field in (
        ("decision_visibility", "DECISION_VISIBILITY_OTHER", "decision_visibility_other"),
        ("decision_monetary", "DECISION_MONETARY_OTHER", "decision_monetary_other"),
        ("content_type", "CONTENT_TYPE_OTHER", "content_type_other"),
        ("category_specification", "KEYWORD_OTHER", "category_specification_other"),
    ):
        given = statement.get(value_field)
        chosen = value in given if isinstance(given, list) else given == value
        if chosen and _blank(statement.get(text_field)) and text_field != "category_specification_other":
            out.append((text_field, f"is required when {value_field} is {value}"))
        if not chosen and not _blank(statement.get(text_field)):
            out.append((text_field, f"only goes with {value_field} {value}"))

    ground = statement.get("decision_ground")
    pairs = {
        GROUND_ILLEGAL: ("illegal_content_legal_ground", "illegal_content_explanation"),
        GROUND_INCOMPATIBLE: ("incompatible_content_ground", "incompatible_content_explanation"),
    }
    for pair_ground, names in pairs.items():
        for name in names:
            if ground == pair_ground and _blank(statement.get(name)):
                out.append((name, f"is required when decision_ground is {pair_ground}"))
            if ground != pair_ground and not _blank(statement.get(name)):
                out.append((name, f"only goes with decision_ground {pair_ground}"))
    if "incompatible_content_illegal" in statement and ground != GROUND_INCOMPATIBLE:
        out.append(("incompatible_content_illegal", "only goes with the incompatible-content ground"))

    url = statement.get("decision_ground_reference_url")
    if isinstance(url, str) and not re.match(r"^https?://[^\s/]+\.[^\s]+$", url):
        out.append(("decision_ground_reference_url", "must be an absolute URL"))
    if statement.get("source_type") == SOURCE_VOLUNTARY and not _blank(statement.get("source_identity")):
        out.append(("source_identity", "must be empty for own-initiative decisions"))

    content_id = statement.get("content_id")
    if content_id is not None and (
        not isinstance(content_id, dict)
        or set(content_id) != {"EAN-13"}
        or not isinstance(content_id["EAN-13"], str)
        or not _EAN13.match(content_id["EAN-13"])
    ):
        out.append(("content_id", 'must be {"EAN-13": "<13 digits>"}'))

    applied = _parse_date(statement.get("application_date"))
    for name in END_DATES:
        ends = _parse_date(statement.get(name))
        if applied is not None and ends is not None and ends < applied:
            out.append((name, "must not be before application_date"))
    return out
