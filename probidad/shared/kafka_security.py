"""Secure mode for Kafka: SASL/SCRAM-SHA-512 over TLS, and ACLs under KRaft's StandardAuthorizer.

Development stays plain (no TLS, no authentication). ``probidad kafka start --secure`` instead:

* makes a project CA and a broker certificate for 127.0.0.1/localhost with openssl, in the state dir
  (``<state>/kafka/secrets/``, mode 0700; never in git);
* formats the storage with SCRAM credentials for the admin principal and one principal per service
  (``kafka-storage format --add-scram``), so they exist before the first broker starts;
* runs the client listener as SASL_SSL (SCRAM-SHA-512 only) and the controller listener as SASL_SSL
  with PLAIN for the broker's own controller connection (KRaft cannot use SCRAM there: controllers
  need the credential before they have read the metadata log that holds SCRAM credentials);
* runs a second client listener, SSL with a required client certificate (mutual TLS), for agencies:
  ``probidad agency credentials`` signs each agency a certificate whose CN is its principal. Agencies
  do not get SCRAM because librdkafka before 2.6.1 — kcat and most distributions' clients — cannot
  complete a SCRAM exchange with Kafka 4 (it repeats the client nonce; Kafka 4 checks it strictly);
  a client certificate works with every client;
* turns on ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false`` and writes the ACLs
  of :func:`service_acls`.

Principals and what they may do (``User:<name>``; topic names take the environment's topic prefix):

================================  ============================================================
principal                         allowed
================================  ============================================================
admin, controller                 super users (the brokers themselves and ``probidad`` tooling)
probidad-enrollment               write ``probidad.enrollment.events`` and every
                                  ``probidad.agency.outcomes.*``; read the shared and every
                                  per-institution request topic and certification events
                                  (completions, for compliance); its dead-letter topics; group
                                  ``probidad-enrollment``
probidad-attendance               write ``probidad.attendance.events``; read enrollment events
probidad-certification            write ``probidad.certification.events``; read what it consumes
probidad-reporting                read every event topic; write ``probidad.reporting.events``
                                  (reports published) and its own dead letters
agency-<institution> (certificate) write ``probidad.agency.requests.<institution>``; read
                                  ``probidad.agency.outcomes.<institution>``; groups
                                  ``agency-<institution>*``
================================  ============================================================

Kafka does not stamp the producer's principal on a record, so an agency's institution is bound by
the topic it may write, and enrollment checks that a request names the institution of its topic.

aiokafka 0.14 has no ACL call that Kafka 4 accepts (Kafka 4 dropped the CreateAcls versions aiokafka
knows), so CreateAcls v3 is a small protocol struct below, sent through an ``AIOKafkaAdminClient``
authenticated as the admin.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import ssl
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import CompactArray, CompactString, Int8, Int16, Int32, Schema, TaggedFields

from contracts.topics import (
    AGENCY_OUTCOMES, AGENCY_REQUESTS, ATTENDANCE_EVENTS, CERTIFICATION_EVENTS, ENROLLMENT_EVENTS, REPORTING_EVENTS,
    dead_letter_topic, prefixed,
)

if TYPE_CHECKING:
    from faststream.security import BaseSecurity

SecurityMode = Literal["plaintext", "scram-tls", "mtls"]
MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192
ADMIN_USER = "admin"
CONTROLLER_USER = "controller"
SERVICES = ("enrollment", "attendance", "certification", "reporting")

AGENCY_REQUESTS_PREFIX = f"{AGENCY_REQUESTS}."  # probidad.agency.requests.<institution>
AGENCY_OUTCOMES_PREFIX = f"{AGENCY_OUTCOMES}."  # probidad.agency.outcomes.<institution>
# Institution ids as agency topic names may carry them: no dot, so the topic level stays unambiguous.
_INSTITUTION = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class SecurityError(RuntimeError):
    """A secure-mode problem the operator can act on (printed without a traceback)."""


# --------------------------------------------------------------------------------------------------
# Client side: what a service, a tool or an agency needs to connect


@dataclass(frozen=True)
class KafkaSecurity:
    """How a client authenticates. ``plaintext`` (development) adds nothing to a client's settings."""

    mode: SecurityMode = "plaintext"
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None  # mtls: the client certificate (its CN is the principal) and its key
    key_file: Path | None = None

    @property
    def secure(self) -> bool:
        return self.mode != "plaintext"

    @classmethod
    def from_settings(cls, settings: Any) -> "KafkaSecurity":
        password = settings.kafka_password.get_secret_value() if settings.kafka_password else ""
        return cls(settings.kafka_security, settings.kafka_username, password, settings.kafka_ca_file)

    def ssl_context(self) -> ssl.SSLContext:
        # Verifies the broker against the project CA, hostname (IP SAN 127.0.0.1) included.
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.mode == "mtls":
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient."""
        if not self.secure:
            return {}
        if self.mode == "mtls":
            return {"security_protocol": "SSL", "ssl_context": self.ssl_context()}
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
            "ssl_context": self.ssl_context(),
        }

    def faststream(self) -> BaseSecurity | None:
        if not self.secure:
            return None
        from faststream.security import SASLScram512

        return SASLScram512(username=self.username, password=self.password, ssl_context=self.ssl_context())

    def kcat_args(self) -> list[str]:
        if not self.secure:
            return []
        if self.mode == "mtls":
            return ["-X", "security.protocol=SSL", "-X", f"ssl.ca.location={self.ca_file}",
                    "-X", f"ssl.certificate.location={self.cert_file}", "-X", f"ssl.key.location={self.key_file}"]
        return [
            "-X", "security.protocol=SASL_SSL", "-X", f"sasl.mechanisms={MECHANISM}",
            "-X", f"sasl.username={self.username}", "-X", f"sasl.password={self.password}",
            "-X", f"ssl.ca.location={self.ca_file}",
        ]

    def environment(self) -> dict[str, str]:
        """The ``PROBIDAD_KAFKA_*`` variables a service process reads these credentials from."""
        if not self.secure:
            return {"PROBIDAD_KAFKA_SECURITY": "plaintext"}
        return {
            "PROBIDAD_KAFKA_SECURITY": self.mode,
            "PROBIDAD_KAFKA_USERNAME": self.username,
            "PROBIDAD_KAFKA_PASSWORD": self.password,
            "PROBIDAD_KAFKA_CA_FILE": str(self.ca_file),
        }


def service_user(service: str) -> str:
    return f"probidad-{service}"


def agency_user(institution: str) -> str:
    return f"agency-{check_institution(institution)}"


def check_institution(institution: str) -> str:
    if not _INSTITUTION.match(institution):
        raise SecurityError(f"institution id {institution!r} cannot name a topic: use letters, digits, - and _ "
                            f"(at most 64)")
    return institution


def agency_requests_topic(institution: str, prefix: str = "") -> str:
    return prefixed(AGENCY_REQUESTS_PREFIX + check_institution(institution), prefix)


def agency_outcomes_topic(institution: str, prefix: str = "") -> str:
    return prefixed(AGENCY_OUTCOMES_PREFIX + check_institution(institution), prefix)


def institution_of_request_topic(topic: str, prefix: str = "") -> str | None:
    """The institution a per-institution request topic belongs to; None for the shared topic."""
    head = prefixed(AGENCY_REQUESTS_PREFIX, prefix)
    if topic.startswith(head) and _INSTITUTION.match(topic[len(head):]):
        return topic[len(head):]
    return None


def request_topic_pattern(prefix: str = "") -> str:
    """Regex for enrollment's pattern subscription in secure mode: the shared request topic and every
    per-institution one, not their dead-letter topics."""
    return "^" + re.escape(prefixed(AGENCY_REQUESTS, prefix)) + r"(\.[A-Za-z0-9_\-]{1,64})?$"


# --------------------------------------------------------------------------------------------------
# Broker side: secrets kept in the state dir


@dataclass
class Secrets:
    """Certificates and passwords of one secure cluster, in ``<kafka state>/secrets``."""

    dir: Path
    admin_password: str
    controller_password: str
    keystore_password: str
    services: dict[str, str]

    @property
    def ca_file(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def keystore(self) -> Path:
        return self.dir / "broker.p12"

    @property
    def credentials_file(self) -> Path:
        return self.dir / "credentials.json"

    def admin(self) -> KafkaSecurity:
        return KafkaSecurity("scram-tls", ADMIN_USER, self.admin_password, self.ca_file)

    def service(self, service: str) -> KafkaSecurity:
        return KafkaSecurity("scram-tls", service_user(service), self.services[service], self.ca_file)

    def agency(self, institution: str) -> KafkaSecurity:
        """An agency's credential: its certificate, signed by the project CA (``make_agency_certificate``)."""
        base = self.dir / "agencies" / check_institution(institution)
        return KafkaSecurity("mtls", agency_user(institution), "", self.ca_file, base / "client.crt",
                             base / "client.key")

    def save(self) -> None:
        data = {"admin": self.admin_password, "controller": self.controller_password,
                "keystore": self.keystore_password, "services": self.services}
        tmp = self.credentials_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.chmod(0o600)
        tmp.replace(self.credentials_file)


def _password() -> str:
    # Hex only: the value goes into JAAS strings, --add-scram's [name=…,password=…] and kcat -X.
    return secrets.token_hex(24)


def load_secrets(kafka_dir: Path) -> Secrets | None:
    directory = kafka_dir / "secrets"
    try:
        data = json.loads((directory / "credentials.json").read_text())
    except (OSError, ValueError):
        return None
    return Secrets(directory, data["admin"], data["controller"], data["keystore"], data["services"])


def ensure_secrets(kafka_dir: Path) -> Secrets:
    """The cluster's secrets, made on first use: a CA, the broker's certificate and every password."""
    existing = load_secrets(kafka_dir)
    if existing is not None and existing.keystore.is_file() and existing.ca_file.is_file():
        return existing
    directory = kafka_dir / "secrets"
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    made = Secrets(directory, _password(), _password(), _password(), {s: _password() for s in SERVICES})
    make_certificates(directory, made.keystore_password)
    made.save()
    return made


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SecurityError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def make_certificates(directory: Path, keystore_password: str, days: int = 825,
                      hosts: Sequence[str] = ("localhost", "127.0.0.1")) -> None:
    """A project CA and a broker certificate for ``hosts`` (names and IPs clients connect to), plus the
    broker's PKCS#12 keystore."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", str(days),
             "-subj", "/O=Probidad/CN=Probidad Kafka CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    _openssl("req", *ec, "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/O=Probidad/CN=localhost",
             cwd=directory)
    (directory / "broker.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=" + ",".join(_san(h) for h in hosts) + "\n")
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "broker.crt", "-days", str(days), "-extfile", "broker.ext", cwd=directory)
    _openssl("pkcs12", "-export", "-in", "broker.crt", "-inkey", "broker.key", "-certfile", "ca.crt",
             "-name", "broker", "-out", "broker.p12", "-passout", f"pass:{keystore_password}", cwd=directory)
    for name in ("ca.key", "broker.key", "broker.p12"):
        (directory / name).chmod(0o600)


def _san(host: str) -> str:
    return f"IP:{host}" if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]*:[0-9a-fA-F:]*", host) else f"DNS:{host}"


def make_agency_certificate(made: Secrets, institution: str, days: int = 397) -> KafkaSecurity:
    """Sign a client certificate for the agency (CN ``agency-<institution>``, its principal); a new call
    replaces it (the old one stays valid until it expires: revoke by removing the agency's ACLs)."""
    credential = made.agency(institution)
    directory = credential.cert_file.parent
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "client.key",
             "-out", "client.csr", "-subj", f"/O=Probidad/OU=agencies/CN={credential.username}", cwd=directory)
    (directory / "client.ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                                          "extendedKeyUsage=clientAuth\n")
    _openssl("x509", "-req", "-in", "client.csr", "-CA", str(made.ca_file), "-CAkey", str(made.dir / "ca.key"),
             "-CAcreateserial", "-out", "client.crt", "-days", str(days), "-extfile", "client.ext", cwd=directory)
    (directory / "client.key").chmod(0o600)
    return credential


# Only a certificate the project CA issued to an agency maps to an agency principal; any other
# subject keeps its whole DN as principal, which no ACL names.
AGENCY_PRINCIPAL_RULES = "RULE:^CN=(agency-[A-Za-z0-9_-]+),OU=agencies,O=Probidad$/$1/,DEFAULT"


def server_properties(made: Secrets, port: int, controller_port: int, agency_port: int) -> dict[str, Any]:
    """The ``server.properties`` entries of a secure node (they replace the plain listener's)."""
    scram_jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required '
                  f'username="{ADMIN_USER}" password="{made.admin_password}";')
    plain_jaas = (f'org.apache.kafka.common.security.plain.PlainLoginModule required '
                  f'username="{CONTROLLER_USER}" password="{made.controller_password}" '
                  f'user_{CONTROLLER_USER}="{made.controller_password}";')
    return {
        "listeners": f"SASL_SSL://127.0.0.1:{port},AGENCY://127.0.0.1:{agency_port},"
                     f"CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port},AGENCY://127.0.0.1:{agency_port},"
                                f"CONTROLLER://127.0.0.1:{controller_port}",
        "inter.broker.listener.name": "SASL_SSL",
        "listener.security.protocol.map": "CONTROLLER:SASL_SSL,SASL_SSL:SASL_SSL,AGENCY:SSL",
        "listener.name.agency.ssl.client.auth": "required",
        "listener.name.agency.ssl.principal.mapping.rules": AGENCY_PRINCIPAL_RULES,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": MECHANISM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram_jaas,
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain_jaas,
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": made.keystore,
        "ssl.keystore.password": made.keystore_password,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": made.ca_file,
        "ssl.client.auth": "none",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN_USER};User:{CONTROLLER_USER}",
        "allow.everyone.if.no.acl.found": "false",
    }


def format_arguments(made: Secrets) -> list[str]:
    """``kafka-storage format`` arguments that create every SCRAM credential the brokers and services need."""
    users = _scram_users(made)
    args: list[str] = []
    for name, password in users.items():
        args += ["--add-scram", f"{MECHANISM}=[name={name},password={password},iterations={SCRAM_ITERATIONS}]"]
    return args


# --------------------------------------------------------------------------------------------------
# ACLs


TOPIC, GROUP = 2, 3
LITERAL, PREFIXED = 3, 4
READ, WRITE, CREATE, DESCRIBE = 3, 4, 5, 8
ALLOW = 3
_OPERATION_NAMES = {READ: "READ", WRITE: "WRITE", CREATE: "CREATE", DESCRIBE: "DESCRIBE"}


@dataclass(frozen=True)
class Acl:
    principal: str  # a user name; the ACL names User:<principal>
    resource_type: int
    name: str
    pattern: int
    operation: int

    def __str__(self) -> str:
        kind = "topic" if self.resource_type == TOPIC else "group"
        how = "prefixed" if self.pattern == PREFIXED else "literal"
        return f"User:{self.principal} {_OPERATION_NAMES[self.operation]} {kind} {self.name!r} ({how})"


# What each service consumes, in which group. tests/unit/test_kafka_security.py checks it against the
# services' own wiring, so a new subscription cannot silently lack its ACL.
SERVICE_CONSUMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "enrollment": ("probidad-enrollment", (AGENCY_REQUESTS, CERTIFICATION_EVENTS)),
    "attendance": ("probidad-attendance", (ENROLLMENT_EVENTS,)),
    "certification": ("probidad-certification", (ENROLLMENT_EVENTS, ATTENDANCE_EVENTS)),
    "reporting": ("probidad-reporting", (ENROLLMENT_EVENTS, ATTENDANCE_EVENTS, CERTIFICATION_EVENTS)),
}
SERVICE_WRITES: dict[str, tuple[str, ...]] = {
    "enrollment": (ENROLLMENT_EVENTS,),
    "attendance": (ATTENDANCE_EVENTS,),
    "certification": (CERTIFICATION_EVENTS,),
    "reporting": (REPORTING_EVENTS,),
}


def _writes(user: str, topic: str, pattern: int = LITERAL, create: bool = False) -> list[Acl]:
    ops = (WRITE, DESCRIBE, CREATE) if create else (WRITE, DESCRIBE)
    return [Acl(user, TOPIC, topic, pattern, op) for op in ops]


def _reads(user: str, topic: str, pattern: int = LITERAL) -> list[Acl]:
    return [Acl(user, TOPIC, topic, pattern, op) for op in (READ, DESCRIBE)]


def service_acls(prefix: str = "") -> list[Acl]:
    acls: list[Acl] = []
    for service in SERVICES:
        user = service_user(service)
        group, consumed = SERVICE_CONSUMES[service]
        for topic in SERVICE_WRITES[service]:
            acls += _writes(user, prefixed(topic, prefix))
        for topic in consumed:
            acls += _reads(user, prefixed(topic, prefix))
            # A service creates its own dead-letter topics at start (ensure_topics) and writes them.
            acls += _writes(user, dead_letter_topic(prefixed(topic, prefix), group), create=True)
        acls.append(Acl(user, GROUP, group, LITERAL, READ))
        acls.append(Acl(user, GROUP, group, LITERAL, DESCRIBE))  # the lag monitor reads committed offsets
    enrollment = service_user("enrollment")
    # Every institution's request topic, and the outcome topics it answers on.
    acls += _reads(enrollment, prefixed(AGENCY_REQUESTS_PREFIX, prefix), PREFIXED)
    acls += _writes(enrollment, prefixed(AGENCY_OUTCOMES_PREFIX, prefix), PREFIXED)
    return acls


def agency_acls(institution: str, prefix: str = "") -> list[Acl]:
    """The agency's own two topics; and enrollment's dead-letter topic for its requests (a literal ACL,
    because a prefix on ``probidad.agency.requests.`` would also let enrollment write requests)."""
    user = agency_user(institution)
    requests_topic = agency_requests_topic(institution, prefix)
    return [
        *_writes(user, requests_topic),
        *_reads(user, agency_outcomes_topic(institution, prefix)),
        Acl(user, GROUP, user, PREFIXED, READ),
        Acl(user, GROUP, user, PREFIXED, DESCRIBE),
        *_writes(service_user("enrollment"), dead_letter_topic(requests_topic, "probidad-enrollment"), create=True),
    ]


# --------------------------------------------------------------------------------------------------
# Admin requests aiokafka does not have (flexible versions, as Kafka 4 requires)


class _CreateAclsResponse_v3(Response):
    API_KEY = 30
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(("error_code", Int16), ("error_message", CompactString("utf-8")),
                                 ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class _CreateAclsRequest_v3(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 30
    API_VERSION = 3
    RESPONSE_TYPE = _CreateAclsResponse_v3
    SCHEMA = Schema(
        ("creations", CompactArray(
            ("resource_type", Int8), ("resource_name", CompactString("utf-8")), ("resource_pattern_type", Int8),
            ("principal", CompactString("utf-8")), ("host", CompactString("utf-8")), ("operation", Int8),
            ("permission_type", Int8), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class _CreateAcls(Request[_CreateAclsRequest_v3]):
    API_KEY = 30

    def __init__(self, acls: Sequence[Acl]) -> None:
        self.acls = acls

    def build(self, request_struct_class: type[RequestStruct]) -> RequestStruct:
        return request_struct_class(
            [(a.resource_type, a.name, a.pattern, f"User:{a.principal}", "*", a.operation, ALLOW, {})
             for a in self.acls], {})


async def _admin_call(bootstrap: str, admin: KafkaSecurity, request: Request) -> Response:
    from aiokafka.admin import AIOKafkaAdminClient

    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="probidad-security",
                                 request_timeout_ms=15000, **admin.aiokafka())
    await client.start()
    try:
        return await client._send_request(request)  # noqa: SLF001 — aiokafka's own request path
    finally:
        await client.close()


async def create_acls(bootstrap: str, admin: KafkaSecurity, acls: Sequence[Acl]) -> None:
    """Add ``acls`` (adding one that exists already changes nothing)."""
    if not acls:
        return
    response = await _admin_call(bootstrap, admin, _CreateAcls(list(acls)))
    failed = [(acl, code, message) for acl, (code, message, _tags) in zip(acls, response.results) if code]
    if failed:
        raise SecurityError("Kafka refused ACLs: " + "; ".join(f"{a}: error {c} {m or ''}" for a, c, m in failed))


def kcat_command(bootstrap: str, security: KafkaSecurity, *args: str) -> str:
    """A shell command line for kcat with these credentials (what ``probidad agency credentials`` prints)."""
    return shlex.join(["kcat", "-b", bootstrap, *security.kcat_args(), *args])


def names(acls: Iterable[Acl]) -> list[str]:
    return [str(acl) for acl in acls]


# --------------------------------------------------------------------------------------------------
# The production-like stack (docker-compose.yml + deploy/compose.secure.yml)

# Where the broker container finds the files write_compose_secrets makes (the apache/kafka image reads
# its keystore and the files holding its passwords from /etc/kafka/secrets).
COMPOSE_SECRETS_MOUNT = "/etc/kafka/secrets"
COMPOSE_LISTENERS = ("SASL_SSL", "EXTERNAL", "CONTROLLER")  # SASL listeners, each with its JAAS section


def compose_service_password_variable(service: str) -> str:
    return f"PROBIDAD_KAFKA_{service.upper()}_PASSWORD"


def write_compose_secrets(directory: Path, ca_dir: Path, hosts: Sequence[str]) -> Secrets:
    """Everything deploy/compose.secure.yml mounts, made like ``probidad kafka start --secure`` makes its
    own: a CA, the broker's certificate for ``hosts`` (the compose network's ``kafka`` and the names
    agencies and the operator use), the SCRAM passwords of the admin, the controller and each service.

    ``directory`` is the broker's (keystore, passwords, JAAS, admin client settings, ``ca.key`` to sign
    agencies' certificates); ``ca_dir`` gets only ``ca.crt``, for the services. Returns the secrets; the
    services' passwords are for the operator's environment (``compose_environment``)."""
    if (directory / "credentials.json").exists():  # never overwrite the passwords a broker was formatted with
        raise SecurityError(f"{directory} holds secrets already; remove them first to make new ones")
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    made = Secrets(directory, _password(), _password(), _password(), {s: _password() for s in SERVICES})
    make_certificates(directory, made.keystore_password, hosts=hosts)
    made.save()
    private = {
        # The image reads the keystore password (and the key's: the same, in PKCS#12) from these files.
        "broker_keystore_creds": made.keystore_password + "\n",
        "broker_jaas.conf": "".join(
            f"{listener.lower()}.KafkaServer {{\n  {_jaas(listener, made)}\n}};\n" for listener in COMPOSE_LISTENERS),
        "admin.properties": (
            f"security.protocol=SASL_SSL\nsasl.mechanism={MECHANISM}\n"
            f"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN_USER}" password="{made.admin_password}";\n'
            f"ssl.truststore.type=PEM\nssl.truststore.location={COMPOSE_SECRETS_MOUNT}/ca.crt\n"),
        # name=password per line: format-storage.sh turns each into kafka-storage format --add-scram.
        "scram-credentials": "".join(f"{name}={password}\n" for name, password in _scram_users(made).items()),
    }
    for name, text in private.items():
        path = directory / name
        path.write_text(text)
        path.chmod(0o600)
    ca_dir.mkdir(parents=True, exist_ok=True)
    (ca_dir / "ca.crt").write_bytes(made.ca_file.read_bytes())
    return made


def compose_environment(made: Secrets) -> dict[str, str]:
    """The variables deploy/compose.secure.yml requires: each service's SCRAM password."""
    return {compose_service_password_variable(s): p for s, p in made.services.items()}


def _jaas(listener: str, made: Secrets) -> str:
    if listener == "CONTROLLER":
        return (f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{CONTROLLER_USER}" '
                f'password="{made.controller_password}" user_{CONTROLLER_USER}="{made.controller_password}";')
    return (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{ADMIN_USER}" '
            f'password="{made.admin_password}";')


def _scram_users(made: Secrets) -> dict[str, str]:
    return {ADMIN_USER: made.admin_password, **{service_user(s): p for s, p in made.services.items()}}


_ACL_OPERATIONS = {READ: "Read", WRITE: "Write", CREATE: "Create", DESCRIBE: "Describe"}


def kafka_acls_lines(acls: Iterable[Acl]) -> list[str]:
    """``kafka-acls.sh --add`` arguments, one ACL a line (deploy/kafka/secure/acls.txt is these, for
    :func:`service_acls`; a unit test keeps them equal)."""
    return [f"--allow-principal User:{a.principal} --operation {_ACL_OPERATIONS[a.operation]} "
            f"--{'topic' if a.resource_type == TOPIC else 'group'} {a.name} "
            f"--resource-pattern-type {'prefixed' if a.pattern == PREFIXED else 'literal'}" for a in acls]
