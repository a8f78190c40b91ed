#!/usr/bin/env bash
# The Debian packages the tests use: real Prometheus, Alertmanager, kcat, Chromium, poppler,
# Java 17 and Maven (Apache Kafka, fetched by scripts/kafka-jars.sh), and the libraries
# WeasyPrint loads. Needs root (or sudo); safe to run again.
set -euo pipefail
packages=(
  prometheus prometheus-alertmanager kcat chromium poppler-utils sqlite3
  openjdk-17-jre-headless maven
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "system packages: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
