"""HTTP endpoints of the `checks` feature."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
