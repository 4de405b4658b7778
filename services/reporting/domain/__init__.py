"""Reporting's projection: the facts it keeps and the figures it computes from them. Pure: no I/O.

``facts`` (what is kept of an event), ``ledger`` (every fact, indexed), ``snapshot`` (resolved as of a
moment, with ``resolved``'s views) and ``figures`` (the rows coverage and plan reports are made of).

Why facts stamped with the moment they became known, rather than running totals: every figure must
be answerable for any period *as of* any past date, and "servants trained" counts distinct people,
which no counter adds up across arbitrary periods (the servants trained January–November are fewer
than the sum of the months). So reporting keeps one small ``Fact`` per event it needs — the entity
ids and the attributes oversight reads, never personal data — with the event's envelope time, and a
``Ledger`` resolves them into a ``Snapshot`` as of any instant. Facts are keyed by event id, so a
redelivered event changes nothing, and every resolution picks the latest version *known* at the
cut-off (ordered by envelope time, then event id), so the arrival order never matters.

**Completion = a standing certificate.** A servant completes a session when a ``CertificateIssued``
for (servant, session) is known at the cut-off and no ``CertificateRevoked`` known then takes it away on
the certificate's own day (``contracts.compliance.revoked_from``, the rule compliance reads): a void
revocation — every one after a correction — takes it away on every day; one from a date only when that
date is on or before the certificate's (a sanction leaves the training it ends delivered). Reporting
deliberately does not recompute completions from attendance shares, scores and course rules:

* certification owns the completion rules (one owner per fact); a second implementation here could
  only disagree with it — e.g. over a course re-published with new terms after a session;
* the figures a bulletin prints then match the certificates the public can verify one by one;
* corrections reach reporting the same way they reach servants: as a revocation, at a known time,
  which is exactly what "as of" needs.

**Month of a session**: the local date of its (latest known) start in the programme's time zone,
never UTC: a session at 22:30 on 30 November in Mexico City is a November session.

**Attribution**: a completion belongs to the institution (and so the government level) and sex the
servant had when the session started, as known at the cut-off — a servant who moves later does not
take past training along. A ``ServantTransferred`` is in force from its ``effective_on`` (local midnight
in the programme's zone), not from when it was recorded: a transfer recorded on 2 December, effective
16 November, gives the new institution the sessions from 16 November on.

**Unknown references wait** (the trust rules): a certificate, attendance or enrolment naming a session,
course, servant or institution reporting has no fact about yet is held, never counted under an
"unknown" category. Order across topics is not guaranteed, so the fact is kept and counts from the
moment what it names is known, exactly as if the facts had come in order; a revocation counts only
once the certificate it revokes has been issued (a revocation of nothing counts nothing).
"""
