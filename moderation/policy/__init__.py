"""Loads and validates `policies/` into frozen objects; exposes the policy version.

Each part of the policy has its own module (`regimes`, `categories`, `decisions`, `statements`); `load_policy`
reads them all once at start-up and fails with an error naming the file and field.
"""

from moderation.policy.loader import Policy, get_policy, load_policy, policy_version

__all__ = ["Policy", "get_policy", "load_policy", "policy_version"]

# Importing the parts registers their loaders with `load_policy`.
from moderation.policy import categories, decisions, regimes, statements  # noqa: F401
