#!/bin/bash
# The broker of the image: server.properties from the environment, storage formatted once, then Kafka.
set -euo pipefail
config=/etc/kafka/server.properties
: > "$config"
# KAFKA_LISTENER_NAME_SASL__SSL_X=1 -> listener.name.sasl_ssl.x=1 ("__" is "_", "___" is "-"), as apache/kafka.
while IFS='=' read -r name value; do
  case "$name" in
    KAFKA_HEAP_OPTS|KAFKA_OPTS|KAFKA_JVM_PERFORMANCE_OPTS|KAFKA_LOG4J_OPTS|KAFKA_HEAP_OPTS_TOOLS|KAFKA_TOOLS_OPTS) continue ;;
    KAFKA_*) ;;
    *) continue ;;
  esac
  key=${name#KAFKA_}
  key=$(printf '%s' "$key" | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g' | tr '[:upper:]' '[:lower:]')
  printf '%s=%s\n' "$key" "$value" >> "$config"
done < <(env)
log_dirs=$(sed -n 's/^log\.dirs=//p' "$config")
log_dirs=${log_dirs:-/var/lib/kafka/data}
grep -q '^log\.dirs=' "$config" || echo "log.dirs=$log_dirs" >> "$config"
if [ ! -f "${log_dirs%%,*}/meta.properties" ]; then
  : "${CLUSTER_ID:?set CLUSTER_ID (the KRaft cluster id) to format the storage}"
  /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool format --cluster-id="$CLUSTER_ID" -c "$config"
fi
# shellcheck disable=SC2086  # the options are lists of words
exec java ${KAFKA_HEAP_OPTS:--Xmx1g -Xms1g} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20} \
  -Djava.awt.headless=true -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties ${KAFKA_OPTS:-} \
  -cp '/opt/kafka/libs/*' kafka.Kafka "$config"
