"""The ``recommend:`` settings types, re-exported from :mod:`jobs.core.config`.

The values live in ``conf/base.yaml`` under ``recommend:`` (overlays in
``conf/<env>.yaml``) and reach code as ``cfg.recommend``; this module only lets the
recommendation rules import the section types from next to them.
"""

from jobs.core.config import (
    AbSettings,
    AlsSettings,
    ContentSettings,
    EvaluationSettings,
    InteractionSettings,
    ItemCosineSettings,
    ListSettings,
    RecommendSettings,
    TrainingSettings,
)

__all__ = [
    "AbSettings",
    "AlsSettings",
    "ContentSettings",
    "EvaluationSettings",
    "InteractionSettings",
    "ItemCosineSettings",
    "ListSettings",
    "RecommendSettings",
    "TrainingSettings",
]
