"""HTTP endpoints of the `takedown` feature."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
