#!/usr/bin/env bash
# Secure mode (deploy/compose.secure.yml), run once the broker is healthy: adds the ACLs of acls.txt (each
# service writes only its topic and reads what it consumes: probidad.shared.kafka_security.service_acls).
# Adding an ACL that exists changes nothing, so this runs at every `docker compose up`.
set -euo pipefail
while read -r acl; do
  [[ -z "$acl" || "$acl" == \#* ]] && continue
  # shellcheck disable=SC2086 — each line is the arguments of one ACL
  /opt/kafka/bin/kafka-acls.sh --bootstrap-server kafka:9092 --command-config /etc/kafka/secrets/admin.properties \
    --add --force $acl > /dev/null
done < /etc/kafka/probidad/acls.txt
echo "ACLs in place"
