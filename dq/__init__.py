"""Data quality of the lakehouse: Great Expectations suites as data and their runner.

``dq/suites/NAME.yaml`` holds one suite per table, ``dq/custom_expectations/`` the
project's own expectations (one per file), ``dq/run.py`` the runner
(``python -m dq.run --suite all``), ``dq/schedule/`` the scheduled pipeline (cron
and Airflow) and ``dq/data_docs.py`` the offline Data Docs.
See ``dq/README.md``.
"""
