#!/usr/bin/env bash
# Spark 4 needs Java 17 or newer. Say how to get it when it is missing.
set -euo pipefail
if ! command -v java >/dev/null 2>&1; then
  echo "error: Java is not installed; Spark 4 needs Java 17+." >&2
  echo "  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless" >&2
  echo "  macOS:         brew install openjdk@17" >&2
  echo "  or set JAVA_HOME to a JDK 17+ and put \$JAVA_HOME/bin on PATH." >&2
  exit 1
fi
version=$(java -version 2>&1 | awk -F'"' '/version/ {print $2}')
major=${version%%.*}
if [ "${major:-0}" -lt 17 ] 2>/dev/null; then
  echo "error: Java $version found; Spark 4 needs Java 17+ (see 'make check-java' advice above)." >&2
  echo "  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless" >&2
  exit 1
fi
