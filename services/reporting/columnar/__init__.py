"""Reporting's read side on a columnar engine (DuckDB): every figure in SQL, history on disk, not in Python.

Why: the in-memory ``Ledger`` (``services/reporting/domain/``) held every fact of all history in each
reporting process — about 1.1 GB and 6 s of dashboard per million facts — and resolved each snapshot in a
Python loop. Here the same facts live in a DuckDB file per reporting instance (columnar, vectorised,
parallel, spilling to disk under ``memory_mb``), appended from the service's store by sequence number and
rebuilt from it at will; the store stays the system of record.

**The same answers.** The projection says what every figure means and stays the reference: a differential
test compares the two engines over generated programmes. The rules are not restated here where they can
be called: a revocation's first uncounted day is ``contracts.compliance.revoked_from`` (computed when the
fact is appended) and whether it takes a completion away is ``contracts.compliance.counted_on`` (a
function the SQL calls); coverage and plan rows are shaped by ``domain.figures.coverage_rows`` and
``domain.figures.plan_report``; a session's roster and the compliance projection run the projection's
``Snapshot`` and
``services/reporting/compliance.py`` over just the facts they read.

**Bitemporal versions.** Attendance and certificates — most of the facts — carry ``known_until``: when
the next version of the same (session, servant) attendance or (certificate, issued|revoked) became known
(``OPEN`` for the latest). "The version known at the cut-off" is then a range test,
``known_at <= cutoff < known_until``, not a search. Smaller keys (institutions, courses, sessions, a
servant's versions) are resolved with ``arg_max`` by (known_at, event_id), the Ledger's order.

**A snapshot** resolves, once per cut-off, three tables — the sessions known, the servants present (placed
in their institution when the session started) and the standing certificates — and every figure is a
``GROUP BY`` over them. The latest "now" and a few past cut-offs are kept until new facts arrive.

The copy and its appends are ``copy_repository`` (``ColumnarLedger``); a snapshot's tables and figures are
``snapshot_repository`` (``ColumnarSnapshot``).
"""
