"""The OpenAPI document types every takedown and check response down to the last nested entry."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

# Values people typed in (statements, reporter details, audit details) are any JSON by design.
FREE_FORM = "#/components/schemas/JsonValue"
PREFIXES = ("/v1/notices", "/v1/check", "/v1/review")


def _untyped(schema: dict[str, Any], where: str, components: dict[str, Any], seen: set[str]) -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if schema["$ref"] == FREE_FORM or name in seen:
            return []
        seen.add(name)
        return _untyped(components[name], name, components, seen)
    found: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found += _untyped(option, where, components, seen)
    if schema.get("type") == "array":
        found += _untyped(schema.get("items", {}), f"{where}[]", components, seen)
    if schema.get("type") == "object":
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        if extra is True or extra == {} or (not properties and extra is None):
            found.append(where)
        for name, value in properties.items():
            found += _untyped(value, f"{where}.{name}", components, seen)
        if isinstance(extra, dict) and extra:
            found += _untyped(extra, f"{where}[*]", components, seen)
    if not schema:
        found.append(where)
    return found


def test_takedown_and_check_responses_have_no_untyped_object(app_client: TestClient) -> None:
    document = app_client.get("/openapi.json").json()
    components = document["components"]["schemas"]
    untyped: list[str] = []
    checked = 0
    for path, operations in document["paths"].items():
        if not path.startswith(PREFIXES):
            continue
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                for media_type, content in response.get("content", {}).items():
                    checked += 1
                    where = f"{method.upper()} {path} {status} {media_type}"
                    untyped += [
                        f"{where}: {w}" for w in _untyped(content.get("schema", {}), where, components, set())
                    ]
    assert checked >= 15
    assert untyped == []


def test_the_check_finds_an_untyped_entry() -> None:
    components = {
        "Out": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object"}}}}
    }
    assert _untyped({"$ref": "#/components/schemas/Out"}, "x", components, set()) == ["Out.items[]"]
