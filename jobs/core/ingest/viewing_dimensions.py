"""The dimension rows an import brings: account, profile, device, title and episode.

:class:`DimensionCollector` keeps one entry per distinct profile, device, title and
episode of a stream of viewings (not one per viewing), so a large export's dimensions
fit in memory; :func:`upsert_dimensions` merges the rows into their Delta tables on
their keys.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable

from jobs.core.ingest.netflix_export import normalize_name
from jobs.core.ingest.viewings import Viewing, account_id_for
from jobs.core.runtime.config import Config
from jobs.core.storage.delta import MergeSpec, get_engine
from jobs.core.tables.registry import get_spec

log = logging.getLogger("import_viewing_activity")


class DimensionCollector:
    """The account/profile/device/title/episode rows of a stream of viewings.

    Holds one entry per distinct profile, device, title and episode (not per viewing).
    The latest viewing decides a profile's country_code; the earliest names a title
    and a device (ties: the first in file order), as if the viewings were sorted by
    start time.
    """

    def __init__(self) -> None:
        self.profiles: dict[int, tuple[dt.datetime, tuple]] = {}
        self.devices: dict[str, tuple[dt.datetime, tuple]] = {}
        self.titles: dict[int, tuple[dt.datetime, Viewing]] = {}
        self.episodes: dict[int, tuple[dt.datetime, tuple]] = {}
        self.kinds: Counter = Counter()
        self.device_types: Counter = Counter()

    @staticmethod
    def _earliest(store: dict, key, start: dt.datetime, value) -> None:
        if key not in store or start < store[key][0]:
            store[key] = (start, value)

    def add(self, v: Viewing) -> None:
        """Account for one viewing."""
        self.kinds[v.title.kind] += 1
        self.device_types[v.device_type] += 1
        old = self.profiles.get(v.profile_id)
        if old is None or v.start >= old[0]:
            self.profiles[v.profile_id] = (
                v.start,
                (v.profile_id, v.account_id, v.profile_name, None, v.country_code),
            )
        self._earliest(
            self.devices,
            v.device_id,
            v.start,
            (v.device_id, v.account_id, v.device_type, None, v.device_model),
        )
        self._earliest(self.titles, v.title_id, v.start, v)
        if v.episode_id is not None:
            t = v.title
            row = (
                v.episode_id,
                v.title_id,
                t.season_label,
                t.season_number,
                t.episode_number,
                t.episode_title,
                None,
            )
            self._earliest(self.episodes, v.episode_id, v.start, row)  # fmt: skip

    def title_shares(self) -> dict[str, float]:
        """Shares of episodes and films among the non-supplemental viewings."""
        main = self.kinds["EPISODE"] + self.kinds["FILM"]
        return {
            "episode_share": self.kinds["EPISODE"] / main if main else 0.0,
            "film_share": self.kinds["FILM"] / main if main else 0.0,
        }

    def rows(self, account: str, runtimes: dict[str, int]) -> dict[str, list[tuple]]:
        """Rows per table, in the tables' column order."""
        titles = {}
        for title_id, (_, v) in self.titles.items():
            kind = {"EPISODE": "SERIES", "FILM": "FILM"}.get(v.title.kind, "SUPPLEMENTAL")
            name = v.title.title_name if kind != "SUPPLEMENTAL" else v.title.raw
            runtime = runtimes.get(normalize_name(name)) if kind == "FILM" else None
            titles[title_id] = (title_id, name, kind, runtime)
        return {
            "account": [(account_id_for(account), account)],
            "profile": [row for _, row in self.profiles.values()],
            "device": [row for _, row in self.devices.values()],
            "title": list(titles.values()),
            "episode": [row for _, row in self.episodes.values()],
        }


def dimension_rows(
    viewings: Iterable[Viewing] | DimensionCollector, account: str, runtimes: dict[str, int]
) -> dict[str, list[tuple]]:
    """Rows of account, profile, device, title and episode seen in ``viewings``.

    The latest viewing decides a profile's country_code; the first one names a title.
    ``viewings`` may be the viewings or an import's ``report.dimensions``.
    """
    if isinstance(viewings, DimensionCollector):
        return viewings.rows(account, runtimes)
    collector = DimensionCollector()
    for v in viewings:
        collector.add(v)
    return collector.rows(account, runtimes)


def upsert_dimensions(spark, cfg: Config, rows: dict[str, list[tuple]]) -> dict[str, dict]:
    """Upsert the dimension rows into their Delta tables (merge on the key)."""
    engine = get_engine(spark, cfg)
    engine.create_all(list(rows))
    out = {}
    for table, data in rows.items():
        spec = get_spec(table)
        df = spark.createDataFrame(data, spec.schema)
        on = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
        result = engine.merge(table, df, MergeSpec(on=on))
        out[table] = result.metrics
        log.info("%s: %d rows upserted %s", table, len(data), result.metrics)
    return out
