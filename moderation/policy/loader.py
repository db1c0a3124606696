"""The policy as a whole: every file under `policies/`, validated, with one version hash."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import yaml

from moderation.exceptions import PolicyError


def policy_version(policies_dir: Path) -> str:
    """A short SHA-256 over every policy file's path and bytes: any edit changes it."""
    digest = hashlib.sha256()
    for path in sorted(p for p in policies_dir.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml"}):
        digest.update(path.relative_to(policies_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def read_yaml(path: Path) -> Any:
    """Parse one YAML file, turning syntax errors into a `PolicyError` that names the file."""
    try:
        with path.open("rb") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise PolicyError(f"{path}: policy file is missing") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from exc


class Policy:
    """Every part of the policy in force, loaded once. Parts are loaded lazily by their modules
    but all of them are validated by `load_policy` before the service starts."""

    def __init__(self, policies_dir: Path) -> None:
        self.dir = policies_dir
        self.version = policy_version(policies_dir)
        self._parts: dict[str, Any] = {}

    def part(self, name: str, loader: Any) -> Any:
        """Load (once) and return a part of the policy with `loader(policy_dir)`."""
        if name not in self._parts:
            self._parts[name] = loader(self.dir)
        return self._parts[name]

    def __repr__(self) -> str:
        return f"Policy(dir={self.dir!s}, version={self.version})"


_validators: list[tuple[str, Any]] = []


def register_part(name: str, loader: Any) -> None:
    """Parts register their loader so `load_policy` validates all of them up front."""
    if all(existing != name for existing, _ in _validators):
        _validators.append((name, loader))


def load_policy(policies_dir: Path) -> Policy:
    """Load and validate every registered part; raises `PolicyError` naming the file and field."""
    if not policies_dir.is_dir():
        raise PolicyError(f"{policies_dir}: policy directory does not exist")
    policy = Policy(policies_dir)
    for name, loader in _validators:
        policy.part(name, loader)
    return policy


@functools.lru_cache(maxsize=4)
def _cached(policies_dir: str, version: str) -> Policy:
    return load_policy(Path(policies_dir))


def get_policy(policies_dir: Path) -> Policy:
    """The policy for a directory, reloaded when any file in it changes (its version changes)."""
    return _cached(str(policies_dir), policy_version(policies_dir))
