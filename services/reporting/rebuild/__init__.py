"""Rebuild reporting from offset 0 into a fresh generation of the store, then swap it in.

The rebuild reads every platform topic up to the end offsets it finds when it starts
(``source.KafkaSnapshot``), turns records into store rows with ``rows.fast_row`` and fills a new
generation while the service keeps serving the old one. The swap then copies over the facts the
live consumer added meanwhile and moves the pointer, in one transaction (``generation.finish``).

How the rows get in, fast: they are staged without an index and moved into ``reporting_fact`` in one
``INSERT … SELECT … ORDER BY event_id``: the unique index on (generation, event_id) is then filled in
key order instead of at random (random inserts of a million ids into it cost more than everything
else together), and ``ON CONFLICT DO NOTHING`` keeps the first occurrence of a repeated event, as
the live consumer does.

On a machine with two cores or more, ``rebuild_from_kafka`` has worker processes read and decode
(``parallel``); ``workers=1`` keeps everything in this process (``single``).

Modules import downward only: this entry point -> ``single``, ``parallel`` -> ``generation``,
``source``, ``rows`` -> the service's domain and repository.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from probidad.shared.database import Database
from services.reporting.rebuild.generation import Progress, RebuildReport
from services.reporting.rebuild.parallel import default_workers, rebuild_in_parallel
from services.reporting.rebuild.single import rebuild_store, rows_of
from services.reporting.rebuild.source import KafkaSnapshot


async def rebuild_from_kafka(database: Database, bootstrap: str, topics: Sequence[str], *,
                             batch_size: int = 20_000, progress: Progress | None = None,
                             on_total: Callable[[int], None] | None = None,
                             workers: int | None = None) -> RebuildReport:
    """``workers``: processes reading and decoding (``parallel.rebuild_in_parallel``); 1 reads and decodes
    in this process; None picks ``parallel.default_workers()``."""
    workers = default_workers() if workers is None else workers
    source = await KafkaSnapshot(bootstrap, topics).open()
    try:
        if on_total:
            on_total(source.total)
        if workers > 1 and len(source.ends) > 1:
            await source.close()  # the workers read; the offsets found are all the parent needs
            return await rebuild_in_parallel(database, source, workers, batch_size=batch_size, progress=progress)
        return await rebuild_store(database, source.batches(), total=source.total, batch_size=batch_size,
                                   progress=progress)
    finally:
        await source.close()


__all__ = ["KafkaSnapshot", "Progress", "RebuildReport", "rebuild_from_kafka", "rebuild_store", "rows_of"]
