"""The star schema's transforms, by part, each a pure ``DataFrame -> DataFrame``.

* :mod:`~jobs.core.star.dimensions`: ``dim_users`` (SCD type 2), ``dim_movies``
  (catalogue match, runtimes), ``dim_device``, ``dim_date``;
* :mod:`~jobs.core.star.fact`: ``fact_watch_history`` (watch time from events, progress,
  finished);
* :mod:`~jobs.core.star.marts`: the marts computed from the fact;
* :mod:`~jobs.core.star.build`: the build, which reads the tables, calls these and writes
  the results (``python -m jobs.build_star_schema`` runs it).
"""
