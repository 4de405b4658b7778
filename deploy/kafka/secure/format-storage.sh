#!/usr/bin/env bash
# Secure mode (deploy/compose.secure.yml), run once before the broker: formats the empty storage with the
# SCRAM credentials of the admin and of each service, as `probidad kafka start --secure` does. Kafka
# needs them in the metadata log before the first broker start: a SCRAM client cannot log in to create them.
# The image's own start-up formats without credentials, and leaves a formatted storage as it is.
set -euo pipefail
data=/var/lib/kafka/data
if [[ -e "$data/meta.properties" ]]; then
  echo "storage in $data is formatted already"
  exit 0
fi
# Only what formatting reads: the node, its role, the quorum and the log directory.
cat > /tmp/format.properties <<PROPERTIES
process.roles=broker,controller
node.id=${KAFKA_NODE_ID}
controller.quorum.voters=${KAFKA_CONTROLLER_QUORUM_VOTERS}
controller.listener.names=CONTROLLER
listeners=CONTROLLER://:9093
listener.security.protocol.map=CONTROLLER:PLAINTEXT
log.dirs=${data}
PROPERTIES
scram=()
while IFS='=' read -r name password; do
  [[ -n "$name" ]] && scram+=(--add-scram "SCRAM-SHA-512=[name=${name},password=${password},iterations=8192]")
done < /etc/kafka/secrets/scram-credentials
exec /opt/kafka/bin/kafka-storage.sh format --cluster-id "$CLUSTER_ID" --config /tmp/format.properties "${scram[@]}"
