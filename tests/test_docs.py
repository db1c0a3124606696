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
