"""The ``recommend:`` settings (conf/recommend.yaml) as frozen dataclasses.

Kept small and isolated so it can be folded into the project's configuration loader:
``load_recommend_settings(env)`` reads ``conf/recommend.yaml``, deep-merges
``envs.<env>.recommend`` over the base section and fails with a one-line message naming
the bad key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jobs.core.config import ConfigError, conf_dir


@dataclass(frozen=True)
class InteractionSettings:
    typical_length_sec: int = 2700
    min_completion: float = 0.0


@dataclass(frozen=True)
class TrainingSettings:
    window_days: int | None = 90
    min_history_titles: int = 3
    max_titles_per_profile: int = 500
    recency_tau_titles: float = 20.0


@dataclass(frozen=True)
class ItemCosineSettings:
    k: int = 50
    min_coviews: int = 1
    shrink: float = 5.0


@dataclass(frozen=True)
class AlsSettings:
    rank: int = 32
    reg_param: float = 0.05
    alpha: float = 20.0
    max_iter: int = 10
    seed: int = 42
    k: int = 50
    bucket_length: float = 2.0


@dataclass(frozen=True)
class ContentSettings:
    num_features: int = 4096
    embedding_size: int = 32
    k: int = 30
    max_distance: float = 1.2


@dataclass(frozen=True)
class ListSettings:
    size: int = 20
    candidates: int = 200
    max_per_genre: int = 4
    ttl_minutes: int = 1440
    popularity_window_days: int = 90
    popularity_min_profiles: int = 2
    genre_contexts: int = 3
    because_you_watched: int = 1


@dataclass(frozen=True)
class AbSettings:
    experiment: str = "home-model"
    split: dict[str, float] = field(default_factory=lambda: {"item_cosine": 0.5, "als": 0.5})


@dataclass(frozen=True)
class EvaluationSettings:
    holdout_fraction: float = 0.2
    min_train_titles: int = 5
    min_test_titles: int = 1
    bootstrap_samples: int = 2000
    seed: int = 7
    k_precision: int = 10
    k_recall: int = 20
    k_ndcg: int = 10


@dataclass(frozen=True)
class RecommendSettings:
    interactions: InteractionSettings = InteractionSettings()
    training: TrainingSettings = TrainingSettings()
    item_cosine: ItemCosineSettings = ItemCosineSettings()
    als: AlsSettings = AlsSettings()
    content: ContentSettings = ContentSettings()
    lists: ListSettings = ListSettings()
    ab: AbSettings = AbSettings()
    evaluation: EvaluationSettings = EvaluationSettings()


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(fields)}")
    kwargs = {}
    for name, value in raw.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            kwargs[name] = _build(type(default), value, f"{where}.{name}")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def load_recommend_settings(
    env: str = "local", path: Path | str | None = None
) -> RecommendSettings:
    """Read the ``recommend:`` section of conf/recommend.yaml for ``env``.

    Raises:
        ConfigError: the file is missing or holds an unknown key (message names it).
    """
    file = Path(path) if path else conf_dir() / "recommend.yaml"
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"{file} not found: copy conf/recommend.yaml from the repository"
        ) from None
    section = _merge(
        raw.get("recommend") or {}, ((raw.get("envs") or {}).get(env) or {}).get("recommend") or {}
    )
    if "split" in (section.get("ab") or {}):
        split = section["ab"]["split"]
        if abs(sum(split.values()) - 1.0) > 1e-9:
            raise ConfigError(f"{file}: recommend.ab.split must sum to 1, got {split}")
    return _build(RecommendSettings, section, f"{file.name}: recommend")
