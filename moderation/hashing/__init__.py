"""hashing feature."""
