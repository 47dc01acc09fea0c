"""One place that builds the SparkSession and decides the Delta engine.

``build_spark`` adds the delta-spark SQL extension and catalog when the connector's jars
can be put on the classpath without a download (already on it, or a folder named by
``DELTA_JARS_DIR``). It never sets ``spark.jars.packages``: that needs Maven Central,
which a job must not depend on at run time. ``spark-submit.sh`` is the place that may
use ``--packages`` on a machine that reaches Maven.
"""

from __future__ import annotations

import glob
import logging
import os
import sys

from pyspark import SparkConf
from pyspark.sql import SparkSession

from jobs.core.runtime.config import Config, EngineChoice

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
ENGINE_ENV_VARS = ("LAKEHOUSE_DELTA_ENGINE", "DELTA_ENGINE")


def engine_choice(cfg: Config) -> EngineChoice:
    """The ``delta.engine`` in force: ``$LAKEHOUSE_DELTA_ENGINE`` (or ``$DELTA_ENGINE``) over the config.

    The variable lets one run pick the engine without editing ``conf/``
    (``DELTA_ENGINE=spark make demo``, the tests' engine dimension).

    Raises:
        ValueError: the variable holds something other than ``auto``, ``spark`` or ``rust``.
    """
    for var in ENGINE_ENV_VARS:
        value = os.environ.get(var, "").strip().lower()
        if value:
            try:
                return EngineChoice(value)
            except ValueError:
                allowed = ", ".join(c.value for c in EngineChoice)
                raise ValueError(f"{var}={value!r}: expected one of {allowed}") from None
    return cfg.delta.engine


def delta_jars_from_env() -> list[str]:
    """Jar files in ``$DELTA_JARS_DIR`` (delta-spark and delta-storage), or ``[]``."""
    folder = os.environ.get("DELTA_JARS_DIR")
    if not folder:
        return []
    jars = sorted(glob.glob(os.path.join(folder, "*.jar")))
    if not jars:
        log.warning("DELTA_JARS_DIR=%s holds no .jar files; ignoring it", folder)
    return jars


def _submitted() -> bool:
    """Whether this driver was started by spark-submit, whose ``--master`` then decides.

    spark-submit starts the Python driver with ``PYSPARK_GATEWAY_PORT`` set (its JVM is
    already up); a plain ``SparkConf()`` cannot tell, since it is empty until the Python
    side connects to that JVM.
    """
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT")) or SparkConf().contains("spark.master")


def build_spark(app_name: str, cfg: Config) -> SparkSession:
    """Build (or reuse) the SparkSession for a job.

    Applies ``cfg.spark.conf`` (UTC session time zone among them), the master when the
    config names one and no ``spark-submit --master`` already did, and the Delta
    extension and catalog when the delta-spark jars are available locally.

    Args:
        app_name: job name, prefixed with ``spark.app_name_prefix``.
        cfg: loaded configuration.

    Returns:
        The active SparkSession.
    """
    # Python workers (the Continue Watching rule runs in applyInArrow) use this interpreter,
    # which has pyarrow, unless PYSPARK_PYTHON or spark.pyspark.python says otherwise
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(f"{cfg.spark.app_name_prefix}:{app_name}")
    if cfg.spark.master and not _submitted():
        # spark-submit --master wins over the config
        builder = builder.master(cfg.spark.master)
    for key, value in cfg.spark.conf.items():
        builder = builder.config(key, value)
    jars = delta_jars_from_env()
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    if jars or engine_choice(cfg) is EngineChoice.SPARK:
        builder = builder.config("spark.sql.extensions", DELTA_EXTENSION)
        builder = builder.config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
    # workers run the driver's interpreter (a bare `python3` may be another version)
    if not (os.environ.get("PYSPARK_PYTHON") or SparkConf().contains("spark.pyspark.python")):
        os.environ["PYSPARK_PYTHON"] = cfg.spark.conf.get("spark.pyspark.python", sys.executable)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("SPARK_LOG_LEVEL", "WARN"))
    return spark


def delta_spark_available(spark: SparkSession) -> tuple[bool, str]:
    """Whether the delta-spark connector is usable in this session, and why (not).

    It is usable when ``io.delta.sql.DeltaSparkSessionExtension`` loads from the JVM's
    classpath and the session was started with that extension.
    """
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - the one documented way to probe a class
    if jvm is None:
        return False, "the SparkSession has no JVM gateway (stopped?)"
    try:
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName(DELTA_EXTENSION, False, loader)
    except Exception:  # py4j wraps ClassNotFoundException
        return False, f"{DELTA_EXTENSION} is not on the classpath (no delta-spark jars)"
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    if DELTA_EXTENSION not in extensions:
        return False, f"delta-spark jars found but spark.sql.extensions lacks {DELTA_EXTENSION}"
    return True, "delta-spark jars on the classpath and the session extension set"
