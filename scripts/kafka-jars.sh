#!/bin/sh
# Apache Kafka's broker jars from Maven Central, for the tests' real broker: copied once into
# a cache folder (SENDWATCH_KAFKA_HOME, default ~/.cache/sendwatch/kafka-VERSION) and reused by
# every later run. Needs Java 17 and Maven (on the CI machines; apt-get install maven elsewhere).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")
home=${SENDWATCH_KAFKA_HOME:-$HOME/.cache/sendwatch/kafka-$version}
if [ -f "$home/libs/kafka_2.13-$version.jar" ] && [ -f "$home/.complete" ]; then
    echo "Apache Kafka $version: $home (cached)"
    exit 0
fi
command -v mvn >/dev/null || { echo "kafka-jars: Maven (mvn) is needed to fetch Apache Kafka" >&2; exit 1; }
command -v java >/dev/null || { echo "kafka-jars: Java 17 is needed to run Apache Kafka" >&2; exit 1; }
rm -rf "$home.tmp"
mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$home.tmp/libs"
touch "$home.tmp/.complete"
rm -rf "$home"
mv "$home.tmp" "$home"
echo "Apache Kafka $version: $home ($(ls "$home/libs" | wc -l) jars)"
