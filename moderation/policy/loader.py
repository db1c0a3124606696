"""The policy as a whole: every file under `policies/`, validated, with one version hash."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import yaml

from moderation.config import get_settings
from moderation.exceptions import PolicyError


def policy_version(policies_dir: Path, profile: str | None = None) -> str:
    """A short SHA-256 over every policy file's path and bytes (and the selected profile's name):
    any edit, or choosing another profile, changes it."""
    digest = hashlib.sha256()
    if profile is not None:
        digest.update(f"profile={profile}".encode())
        digest.update(b"\0")
    for path in sorted(p for p in policies_dir.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml"}):
        digest.update(path.relative_to(policies_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file, turning syntax errors into a `PolicyError` that names the file."""
    try:
        with path.open("rb") as fh:
            # libyaml's parser (in PyYAML's wheels) reads the policy ~10x faster than the Python one,
            # which every CLI command and service start pays; same safe constructors either way.
            return yaml.load(fh, Loader=_SafeLoader)  # noqa: S506 - a safe loader
    except FileNotFoundError as exc:
        raise PolicyError(f"{path}: policy file is missing") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from exc


class Policy:
    """Every part of the policy in force, loaded once. Parts are loaded lazily by their modules
    but all of them are validated by `load_policy` before the service starts.

    `profile` names the decision profile (`policies/profiles/<profile>.yaml`); parts registered as
    `profiled` are loaded with `loader(policies_dir, profile)`, the others with `loader(policies_dir)`.
    """

    def __init__(self, policies_dir: Path, profile: str | None = None) -> None:
        self.dir = policies_dir
        self.profile = profile
        self.version = policy_version(policies_dir, profile)
        self._parts: dict[str, Any] = {}

    def part(self, name: str, loader: Any) -> Any:
        """Load (once) and return a part of the policy with its loader."""
        if name not in self._parts:
            self._parts[name] = loader(self.dir, self.profile) if name in _profiled else loader(self.dir)
        return self._parts[name]

    def __repr__(self) -> str:
        return f"Policy(dir={self.dir!s}, profile={self.profile}, version={self.version})"


_validators: list[tuple[str, Any]] = []
_profiled: set[str] = set()


def register_part(name: str, loader: Any, *, profiled: bool = False) -> None:
    """Parts register their loader so `load_policy` validates all of them up front. A `profiled`
    part's loader also takes the profile name."""
    if all(existing != name for existing, _ in _validators):
        _validators.append((name, loader))
    if profiled:
        _profiled.add(name)


def load_policy(policies_dir: Path, profile: str | None = None) -> Policy:
    """Load and validate every registered part; raises `PolicyError` naming the file and field.
    `profile` None means the configured one (MODERATION_POLICY_PROFILE)."""
    if not policies_dir.is_dir():
        raise PolicyError(f"{policies_dir}: policy directory does not exist")
    policy = Policy(policies_dir, get_settings().policy_profile if profile is None else profile)
    for name, loader in _validators:
        policy.part(name, loader)
    return policy


@functools.lru_cache(maxsize=4)
def _cached(policies_dir: str, profile: str | None, version: str) -> Policy:
    return load_policy(Path(policies_dir), profile)


def get_policy(policies_dir: Path, profile: str | None = None) -> Policy:
    """The policy for a directory and profile, reloaded when any file in it changes (its version
    changes). `profile` None means the configured one (MODERATION_POLICY_PROFILE)."""
    chosen = get_settings().policy_profile if profile is None else profile
    return _cached(str(policies_dir), chosen, policy_version(policies_dir, chosen))
