"""Builds the service's classifier from the settings: which model runtimes run, for which categories."""

from __future__ import annotations

import logging

from moderation.classifier import weights
from moderation.classifier.combined import CombinedClassifier, ModelRuntime
from moderation.classifier.explicit import MODEL_ID as EXPLICIT_MODEL_ID
from moderation.classifier.explicit import ExplicitRuntime
from moderation.config import Settings
from moderation.policy.categories import CategoryPolicy

CLIP_MODEL_ID = "open_clip"
log = logging.getLogger("moderation.classifier.runtime")


def build_classifier(settings: Settings, categories: CategoryPolicy) -> CombinedClassifier:
    """A runtime for each model some category names and the settings enable; the others are recorded
    as missing with the setting that turned them off. Nothing loads until `start()`."""
    runtimes: dict[str, ModelRuntime] = {}
    missing: dict[str, str] = {}
    if categories.uses(EXPLICIT_MODEL_ID):
        if settings.explicit_model_enabled:
            runtimes[EXPLICIT_MODEL_ID] = ExplicitRuntime(settings, categories.for_model(EXPLICIT_MODEL_ID))
        else:
            missing[EXPLICIT_MODEL_ID] = "disabled by settings (MODERATION_EXPLICIT_MODEL_ENABLED)"
    if categories.uses(CLIP_MODEL_ID):
        if not settings.clip_enabled:
            missing[CLIP_MODEL_ID] = "disabled by settings (MODERATION_CLIP_ENABLED)"
        elif (reason := weights.preflight(settings)) is not None:
            # Certain to fail: say so without paying seconds of CPU to import torch and open_clip.
            missing[CLIP_MODEL_ID] = reason
            log.warning("classifier unavailable: %s", reason)
        else:
            # Optional heavy dependency: torch and open_clip are imported only when open_clip scores
            # some category, is enabled and its weights may be found (see classifier/weights.py).
            from moderation.classifier.runtime import ClassifierRuntime

            runtimes[CLIP_MODEL_ID] = ClassifierRuntime(settings, categories.for_model(CLIP_MODEL_ID))
    return CombinedClassifier(categories, runtimes, missing)
