"""API keys and roles for the HTTP API."""
