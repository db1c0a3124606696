"""classifier feature."""
