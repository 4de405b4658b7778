"""Operator tooling: the ``probidad`` command, local Kafka and PostgreSQL, the service launcher, the demo.

It sits above the services (it starts and loads them); services and ``probidad.shared`` never import it.
"""
