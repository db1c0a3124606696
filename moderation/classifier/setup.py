"""Builds the service's classifier from the settings: which model runtimes run, for which categories."""

from __future__ import annotations

from moderation.classifier.combined import CombinedClassifier, ModelRuntime
from moderation.classifier.explicit import MODEL_ID as EXPLICIT_MODEL_ID
from moderation.classifier.explicit import ExplicitRuntime
from moderation.config import Settings
from moderation.policy.categories import CategoryPolicy

CLIP_MODEL_ID = "open_clip"


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
        if settings.clip_enabled:
            # torch and open_clip load only when a category is scored by open_clip and it is enabled.
            from moderation.classifier.runtime import ClassifierRuntime

            runtimes[CLIP_MODEL_ID] = ClassifierRuntime(settings, categories.for_model(CLIP_MODEL_ID))
        else:
            missing[CLIP_MODEL_ID] = "disabled by settings (MODERATION_CLIP_ENABLED)"
    return CombinedClassifier(categories, runtimes, missing)
