"""worker feature."""
