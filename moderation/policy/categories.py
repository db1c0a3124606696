"""Policy part `categories` (stub: filled in by its feature's issue)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moderation.policy.loader import register_part


def load_categories(policies_dir: Path) -> Any:
    return None


register_part("categories", load_categories)
