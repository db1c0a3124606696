"""Append-only, hash-chained audit log of every decision and action."""
