#!/bin/bash
# Runs one of Kafka's classes on the image's jars, as the scripts of the Kafka distribution do.
exec java ${KAFKA_HEAP_OPTS_TOOLS:--Xmx256m} -Djava.awt.headless=true \
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties ${KAFKA_TOOLS_OPTS:-} \
  -cp '/opt/kafka/libs/*' "$@"
