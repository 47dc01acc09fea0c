"""Runtime: configuration, the command-line skeleton, the SparkSession, logging, run errors."""
