"""Leaf helpers shared by every feature; imports no feature."""
