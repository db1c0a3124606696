"""The documentation stays true: every setting is documented, every CLI command is in the docs."""

from __future__ import annotations

from typing import Any

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


def _cli_commands() -> dict[str, Any]:
    """Every leaf command of the CLI by its full name ("bank import"). Typer's groups are recognised
    by their `commands` mapping (Typer may ship its own click)."""
    import typer

    from moderation.cli import app

    def walk(command: Any, prefix: list[str]) -> dict[str, Any]:
        subcommands = getattr(command, "commands", None)
        if subcommands is not None:
            found: dict[str, Any] = {}
            for key, sub in subcommands.items():
                found.update(walk(sub, [*prefix, key]))
            return found
        return {" ".join(prefix): command}

    return walk(typer.main.get_command(app), [])


def test_every_cli_command_is_documented() -> None:
    commands = _cli_commands()
    assert len(commands) > 20 and "" not in commands
    docs = _all_docs()
    missing = [c for c in commands if f"moderation {c}" not in docs]
    assert not missing, f"document these commands (README or docs/): {missing}"


def test_every_api_route_has_a_curl_example(settings: Settings) -> None:
    import re

    from moderation.app import create_app
    from tests.routes import api_routes

    docs = _all_docs()
    missing = []
    checked = 0
    for path, _ in api_routes(create_app(settings)):
        if path.startswith("/v1/") or path in {"/healthz", "/readyz", "/metrics"}:
            checked += 1
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^ \"'?]+", re.escape(path))
            # A command may continue over lines (`\` at the end) and name the API base as $U (=.../v1).
            pattern = pattern.replace("/v1/", "(?:/v1|\\$U)/", 1)
            if not re.search(r"curl(?:[^\n]|\\\n)*?" + pattern, docs):
                missing.append(path)
    assert checked > 40, "the application's routes were not found"
    assert not missing, f"add a curl example for: {sorted(set(missing))}"


def test_the_jobs_table_lists_every_job_in_run_order() -> None:
    """docs/alerts.md lists the worker's jobs in the order `worker --once` runs them."""
    import re

    from moderation.worker.runner import load_jobs

    text = (PROJECT_ROOT / "docs" / "alerts.md").read_text()
    table = text.split("Jobs, in the order `--once` runs them:", 1)[1].split("\n\n", 2)[1]
    documented = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", table, flags=re.MULTILINE)
    assert documented == [job.name for job in load_jobs()]


def test_commands_named_in_the_docs_exist() -> None:
    """Every `moderation ...` command line in the docs names a command the CLI has (no stale docs)."""
    import re

    commands = _cli_commands()
    groups = {name.rsplit(" ", 1)[0] for name in commands if " " in name}
    stale = set()
    for words in re.findall(r"(?:\.venv/bin/|`)moderation ((?:[a-z][a-z-]*(?: |$))+)", _all_docs(), re.M):
        named = words.split()
        # The longest prefix of the words that is a command or a group must be a command.
        for size in range(len(named), 0, -1):
            prefix = " ".join(named[:size])
            if prefix in commands:
                break
            if prefix in groups and size == len(named):
                break
        else:
            stale.add(words.strip())
    assert not stale, f"the docs name commands that do not exist: {sorted(stale)}"
