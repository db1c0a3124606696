"""HTTP endpoints of the `matching` feature."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
