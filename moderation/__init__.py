"""Content-compliance and takedown service."""
