"""banks feature."""
