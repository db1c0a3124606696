"""The takedown feature's calls into other features: hashing, the stay-down bank, the content registry.

Kept in one module so the interfaces of `banks`, `hashing` and `checks` are met in one place, and so
tests can replace `stay_down` with a fake (`takedown.stay_down = FakeStayDown()`). Each call is made
inside the caller's transaction; nothing here commits.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from moderation.config import Settings

STAY_DOWN_SOURCE = "takedown"


@dataclass(frozen=True)
class Copy:
    """A registered item the sweep found: `distance` 0 with `identical` for an exact (SHA-256) copy."""

    content_id: str
    sha256: str | None
    pdq: str | None
    distance: int
    identical: bool


@dataclass(frozen=True)
class RegisteredHashes:
    content_id: str
    sha256: str
    pdq: str | None
    md5: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class StayDownPort(Protocol):
    """What takedown needs from the rest of the system.

    Lifecycle: at intake `hash_upload` hashes an uploaded copy (raising ImageRejected subclasses for
    bad images); at removal `registered` looks up the registry's hashes of each reported content_id,
    `add_hashes`/`add_image` put the removed content into the stay-down bank, `find_copies` sweeps the
    registry for identical and near-duplicate copies and `mark_removed` records the removal there."""

    def hash_upload(self, data: bytes, settings: Settings) -> dict[str, Any]: ...

    def registered(self, session: Session, content_id: str) -> list[RegisteredHashes]: ...

    def add_hashes(
        self,
        session: Session,
        hashes: list[tuple[str, str]],
        *,
        note: str,
        metadata: dict[str, Any],
        actor: str,
    ) -> int: ...

    def add_image(
        self, session: Session, data: bytes, *, note: str, metadata: dict[str, Any], actor: str
    ) -> int: ...

    def find_copies(
        self, session: Session, *, sha256: str | None, pdq: str | None, threshold: int
    ) -> list[Copy]: ...

    def mark_removed(self, session: Session, content_id: str, *, notice_id: int, actor: str) -> None: ...


def _service(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _get(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, dict):
        return item.get(name, default)
    return getattr(item, name, default)


class PlatformStayDown:
    """The real implementation over `moderation.hashing`, `moderation.banks` and `moderation.checks`."""

    pdq_threshold = 31

    def hash_upload(self, data: bytes, settings: Settings) -> dict[str, Any]:
        from moderation.hashing.hashers import hash_image_bytes
        from moderation.hashing.intake import ImageLimits

        return hash_image_bytes(data, ImageLimits.from_settings(settings)).as_dict()

    def _registry(self) -> Any:
        return _service("moderation.checks.service", "content_registry")

    def _banks(self) -> Any:
        return _service("moderation.banks.service", "banks")

    def registered(self, session: Session, content_id: str) -> list[RegisteredHashes]:
        registry = self._registry()
        lookup = next(
            (
                getattr(registry, n)
                for n in ("items_for", "by_content_id", "find_content")
                if hasattr(registry, n)
            ),
            None,
        )
        if lookup is None:
            return []
        found = lookup(session, content_id)
        items = found if isinstance(found, list | tuple) else ([found] if found is not None else [])
        return [
            RegisteredHashes(
                content_id=str(_get(i, "content_id", content_id)),
                sha256=str(_get(i, "sha256")),
                pdq=_get(i, "pdq"),
                md5=_get(i, "md5"),
            )
            for i in items
            if _get(i, "sha256")
        ]

    def _bank_name(self, session: Session) -> str:
        bank = self._banks().ensure_stay_down_bank(session)
        return str(_get(bank, "name", bank))

    def add_hashes(
        self,
        session: Session,
        hashes: list[tuple[str, str]],
        *,
        note: str,
        metadata: dict[str, Any],
        actor: str,
    ) -> int:
        if not hashes:
            return 0
        result = self._banks().add_hashes(
            session,
            self._bank_name(session),
            hashes,
            source=STAY_DOWN_SOURCE,
            note=note,
            metadata=metadata,
            actor=actor,
        )
        return len(result) if isinstance(result, list | tuple) else len(hashes)

    def add_image(
        self, session: Session, data: bytes, *, note: str, metadata: dict[str, Any], actor: str
    ) -> int:
        result = self._banks().add_image(
            session,
            self._bank_name(session),
            data,
            source=STAY_DOWN_SOURCE,
            note=note,
            metadata=metadata,
            actor=actor,
        )
        return len(result) if isinstance(result, list | tuple) else 1

    def find_copies(
        self, session: Session, *, sha256: str | None, pdq: str | None, threshold: int
    ) -> list[Copy]:
        found = self._registry().find_copies(session, sha256=sha256, pdq=pdq, pdq_threshold=threshold)
        identical = _get(found, "identical", None)
        near = _get(found, "near_duplicates", None)
        if near is None:
            near = _get(found, "near", None)
        copies: list[Copy] = []
        if identical is not None or near is not None:
            for item in identical or ():
                copies.append(self._copy(item, identical=True))
            for item in near or ():
                copies.append(self._copy(item, identical=False))
            return copies
        for item in found or ():
            exact = bool(_get(item, "identical", False)) or (
                sha256 is not None and _get(item, "sha256") == sha256
            )
            copies.append(self._copy(item, identical=exact))
        return copies

    def _copy(self, item: Any, *, identical: bool) -> Copy:
        content = _get(item, "item", item)
        distance = _get(item, "distance", None)
        return Copy(
            content_id=str(_get(content, "content_id")),
            sha256=_get(content, "sha256"),
            pdq=_get(content, "pdq"),
            distance=0 if identical else int(distance if distance is not None else -1),
            identical=identical,
        )

    def mark_removed(self, session: Session, content_id: str, *, notice_id: int, actor: str) -> None:
        registry = self._registry()
        if hasattr(registry, "mark_removed"):
            registry.mark_removed(session, content_id, notice_id=str(notice_id), actor=actor)
