"""``probidad agency credentials INSTITUTION``: let an agency's HR system onto a secure broker.

On a broker started with ``probidad kafka start --secure`` this signs the agency a client certificate
(CN ``agency-<institution>``, the principal), creates its two topics and the enrollment dead-letter
topic of its requests, adds the ACLs of ``kafka_security.agency_acls`` and prints what the agency
needs: bootstrap, the CA, its certificate and key, its topics and a kcat command line. Running it
again for the same institution signs a new certificate and changes nothing else.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import typer
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from contracts.topics import AGENCY_REQUEST_RETENTION_MS, TopicSpec, dead_letter_topic
from probidad.ops import kafkactl
from probidad.ops.localhost import StateDirOption
from probidad.ops.localhost import fail as _fail
from probidad.shared.kafka_security import (
    KafkaSecurity, SecurityError, agency_acls, agency_outcomes_topic, agency_requests_topic, create_acls,
    kcat_command, make_agency_certificate,
)

app = typer.Typer(help="Agencies publishing requests to Kafka from their own systems.", no_args_is_help=True)

_SHORT_LIVED = {"retention.ms": str(AGENCY_REQUEST_RETENTION_MS), "retention.bytes": "-1"}


@dataclass
class AgencyCredentials:
    institution: str
    bootstrap: str
    security: KafkaSecurity
    requests_topic: str
    outcomes_topic: str

    def kcat_produce(self) -> str:
        return kcat_command(self.bootstrap, self.security, "-P", "-t", self.requests_topic, "-k", self.institution)

    def kcat_consume(self) -> str:
        return kcat_command(self.bootstrap, self.security, "-C", "-t", self.outcomes_topic, "-o", "beginning", "-e")


def issue(institution: str, state_dir: Path | str | None = None, topic_prefix: str = "") -> AgencyCredentials:
    """Credentials, topics and ACLs for ``institution`` on the running secure cluster of ``state_dir``."""
    cluster = kafkactl._load_cluster(state_dir)  # noqa: SLF001 — the same module family
    if cluster is None or not cluster.pids:
        raise SecurityError(f"no Kafka cluster runs from {kafkactl._kafka_state(state_dir)}; "  # noqa: SLF001
                            f"start it with `probidad kafka start --secure`")
    if cluster.secrets is None:
        raise SecurityError("the cluster runs without authentication: every client may already write every topic; "
                            "start it with `probidad kafka start --secure --reset` to give agencies credentials")
    security = make_agency_certificate(cluster.secrets, institution)
    requests_topic = agency_requests_topic(institution, topic_prefix)
    outcomes_topic = agency_outcomes_topic(institution, topic_prefix)
    # Requests carry personal data and are kept as briefly as the shared request topic; so are the
    # outcomes (an agency reads them within days) and the requests enrollment could not read at all.
    specs = [TopicSpec(name, writer="agencies", config=_SHORT_LIVED)
             for name in (requests_topic, outcomes_topic, dead_letter_topic(requests_topic, "probidad-enrollment"))]
    replication = min(len(cluster.nodes), 3)
    kafkactl.create_topics(cluster.bootstrap, specs, replication, security=cluster.admin)
    kafkactl._run(create_acls(cluster.bootstrap, cluster.admin, agency_acls(institution, topic_prefix)))  # noqa: SLF001
    # The controller answers once the ACLs are committed; the brokers apply them a moment later. Hand the
    # credentials over only once they work, so the agency's first write is not refused.
    kafkactl._run(_await_access(cluster.agency_bootstrap, security, requests_topic))  # noqa: SLF001
    return AgencyCredentials(institution, cluster.agency_bootstrap, security, requests_topic, outcomes_topic)


async def _await_access(bootstrap: str, security: KafkaSecurity, topic: str, timeout_s: float = 30.0) -> None:
    """Wait until ``security``'s principal may see ``topic`` (its metadata is no longer refused)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000, **security.aiokafka())
        try:
            await producer.start()
            await asyncio.wait_for(producer.partitions_for(topic), timeout=5)
            return
        except (KafkaError, TimeoutError) as error:
            if loop.time() > deadline:
                raise SecurityError(
                    f"the agency still may not use {topic} after {timeout_s:.0f} s: {error!r}") from None
        finally:
            await producer.stop()
        await asyncio.sleep(0.2)


@app.command()
def credentials(
    institution: str = typer.Argument(..., help="The institution id, as registered in enrollment (e.g. salud)."),
    state_dir: Path | None = StateDirOption,
    topic_prefix: str = typer.Option("", "--topic-prefix", help="The environment's topic prefix, if any."),
) -> None:
    """Sign the agency a client certificate and allow it its own request and outcome topics only."""
    try:
        made = issue(institution, state_dir, topic_prefix)
    except (SecurityError, kafkactl.KafkaCtlError) as error:
        _fail(error)
        return
    s = made.security
    typer.echo(f"Agency {made.institution}: principal User:{s.username}, mutual TLS (no password)")
    typer.echo(f"  bootstrap      {made.bootstrap}")
    typer.echo(f"  CA certificate {s.ca_file}")
    typer.echo(f"  certificate    {s.cert_file}")
    typer.echo(f"  private key    {s.key_file}   (hand it over privately)")
    typer.echo(f"  writes         {made.requests_topic}   (every request must name institution_id {made.institution})")
    typer.echo(f"  reads          {made.outcomes_topic}")
    typer.echo("Publish a request (CloudEvents headers as in the README's agency section):")
    typer.echo(f"  {made.kcat_produce()} -H ce_specversion=1.0 -H ce_id=$(uuidgen) ...")
    typer.echo("Read the outcomes:")
    typer.echo(f"  {made.kcat_consume()}")
