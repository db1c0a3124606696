"""HTTP endpoints of the `banks` feature."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
