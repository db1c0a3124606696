"""The documentation stays true: every setting is documented, every CLI command is in the docs."""

from __future__ import annotations

from moderation.config import PROJECT_ROOT, Settings


def test_every_setting_is_documented() -> None:
    text = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    missing = [
        f"MODERATION_{name.upper()}"
        for name in Settings.model_fields
        if f"`MODERATION_{name.upper()}`" not in text
    ]
    assert not missing, f"document these settings in docs/configuration.md: {missing}"


def test_readme_keeps_install_serve_and_test_commands() -> None:
    text = (PROJECT_ROOT / "README.md").read_text()
    assert 'pip install -c constraints.txt -e ".[dev]"' in text
    assert ".venv/bin/moderation serve" in text
    assert ".venv/bin/python -m pytest" in text


def _all_docs() -> str:
    paths = [*sorted((PROJECT_ROOT / "docs").glob("*.md")), PROJECT_ROOT / "README.md"]
    return "".join(p.read_text() for p in paths)


def test_every_cli_command_is_documented() -> None:
    import click
    import typer

    from moderation.cli import app

    def walk(command: click.Command, prefix: list[str]) -> list[str]:
        if isinstance(command, click.Group):
            return [name for key, sub in command.commands.items() for name in walk(sub, [*prefix, key])]
        return [" ".join(prefix)]

    docs = _all_docs()
    missing = [c for c in walk(typer.main.get_command(app), []) if f"moderation {c}" not in docs]
    assert not missing, f"document these commands (README or docs/): {missing}"


def test_every_api_route_has_a_curl_example(settings: Settings) -> None:
    import re

    from fastapi.routing import APIRoute

    from moderation.app import create_app

    docs = _all_docs()
    missing = []
    for route in create_app(settings).routes:
        if isinstance(route, APIRoute) and (
            route.path.startswith("/v1/") or route.path in {"/healthz", "/readyz"}
        ):
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^ \"'?]+", re.escape(route.path))
            if not re.search(r"curl[^\n]*" + pattern, docs):
                missing.append(route.path)
    assert not missing, f"add a curl example for: {sorted(set(missing))}"
