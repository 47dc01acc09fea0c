"""Data quality of the lakehouse: Great Expectations suites as data and their runner.

``dq/suites/NAME.yaml`` holds one suite per table, ``dq/custom_expectations/`` the
project's own expectations (one per file), ``dq/run.py`` the runner
(``python -m dq.run --suite all``) and ``dq/schedule/`` its cron line and Airflow DAG.
See ``dq/README.md``.
"""
