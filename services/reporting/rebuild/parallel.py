"""The rebuild on several cores: worker processes read and decode, the parent moves and swaps.

Reading (aiokafka's fetch and parse) and decoding (``rows.fast_row``) cost most of a rebuild's CPU and
run in one process; on a machine with more cores, ``rebuild_in_parallel`` splits the topic-partitions
between worker processes (spawned, not forked: the parent runs an event loop and a database engine).
Each worker reads its partitions from the beginning offsets up to the end offsets the parent found
when the rebuild started, turns the records into rows with the same code path as the single-process
rebuild (same verdicts, same invalid records skipped) and appends them to its own staging SQLite file
(no journal, no index). Workers report how many records they read; the parent adds them up for the
progress bar.

The parent then makes the one ordered move into the new generation: ``INSERT … SELECT … ORDER BY
event_id, ord … ON CONFLICT DO NOTHING`` (``repository.move_staged_files``; SQLite: straight from the attached
staging files; PostgreSQL: through a TEMP table filled with COPY), and swaps the generation in exactly as the
single-process rebuild does.

Which copy of a repeated event id wins: ``ord`` is the record's place in the log, the rank of its
topic-partition (topics in the order given, partitions by number) then its offset. Within a
partition that is the order the single-process rebuild reads in, so the copy with the lowest offset
wins, as it does there and for the live consumer. Copies in different partitions (the same id
published with different keys, or to another topic) have no order in Kafka; the single-process
rebuild keeps whichever one its fetches happened to hand over first, this one keeps the one of the
lower-ranked partition, whatever the number of workers.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from probidad.shared.database import Database
from services.reporting.rebuild.generation import Progress, RebuildReport, finish, prepare
from services.reporting.rebuild.source import KafkaSnapshot
from services.reporting.repository import StagingFile, move_staged_files

ORD_BITS = 40  # offsets below 2**40 (a trillion records a partition); ord = rank << 40 | offset


def default_workers() -> int:
    """Two processes when there are two cores or more: reading and decoding then take both, and the
    parent's share (the final move) comes after them. More workers than that gain nothing measurable:
    the move is single-threaded, and the broker and the store need their share of the machine."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def split(sizes: dict[Any, int], workers: int) -> list[list[Any]]:
    """Partitions shared out so that every worker reads about as many records (largest first, each to
    the least loaded worker); empty shares are dropped."""
    shares: list[list[Any]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for key in sorted(sizes, key=lambda k: -sizes[k]):
        i = loads.index(min(loads))
        shares[i].append(key)
        loads[i] += sizes[key]
    return [share for share in shares if share]


# ------------------------------------------------------------------ in the worker process


def work(bootstrap: str, share: list[tuple[str, int, int, int, int]], generation: int, path: str,
         channel: Connection, batch_size: int) -> None:
    """Worker entry point: ``share`` is (topic, partition, rank, begin, end) of each partition to read.

    Sends ("read", n) as records are read, then ("done", records, facts, invalid), or ("error", text).
    """
    try:
        asyncio.run(_work(bootstrap, share, generation, path, channel, batch_size))
    except BaseException:  # noqa: BLE001 — reported to the parent, which fails the rebuild
        channel.send(("error", traceback.format_exc()))
    finally:
        channel.close()


async def _work(bootstrap: str, share: list[tuple[str, int, int, int, int]], generation: int, path: str,
                channel: Connection, batch_size: int) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from contracts.envelope import ContractViolation
    from services.reporting.rebuild.rows import fast_row

    store = StagingFile(path)

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_bytes=64 * 1024 * 1024,
                                max_partition_fetch_bytes=16 * 1024 * 1024)
    await consumer.start()
    records = facts = invalid = 0
    try:
        partitions = {TopicPartition(topic, partition): (rank << ORD_BITS, end)
                      for topic, partition, rank, _, end in share}
        consumer.assign(list(partitions))
        for topic, partition, _, begin, _ in share:
            consumer.seek(TopicPartition(topic, partition), begin)
        remaining = {tp: end for tp, (_, end) in partitions.items()}
        rows: list[tuple] = []
        keep = rows.append
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=20_000)
            read = 0
            for tp, batch in fetched.items():
                end = remaining.get(tp)
                if end is None:
                    continue
                base = partitions[tp][0]
                for record in batch:
                    offset = record.offset
                    if offset >= end:
                        break
                    read += 1
                    try:
                        row = fast_row(record.headers, record.value, generation)
                    except ContractViolation:
                        invalid += 1
                        continue
                    if row is not None:
                        keep((base | offset, *row))
            for tp in list(remaining):
                if await consumer.position(tp) >= remaining[tp]:
                    del remaining[tp]
            if len(rows) >= batch_size:
                store.append(rows)
                facts += len(rows)
                rows.clear()
            if read:
                records += read
                channel.send(("read", read))
        store.append(rows)
        facts += len(rows)
        store.commit()
    finally:
        store.close()
        await consumer.stop()
    channel.send(("done", records, facts, invalid))


# ------------------------------------------------------------------ in the parent


async def _run_workers(bootstrap: str, shares: list[list[tuple[str, int, int, int, int]]], generation: int,
                       paths: list[str], batch_size: int, progress: Progress | None,
                       total: int) -> tuple[int, int, int]:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    processes, channels = [], []
    try:
        for share, path in zip(shares, paths, strict=True):
            receiving, sending = context.Pipe(duplex=False)
            process = context.Process(target=work, args=(bootstrap, share, generation, path, sending, batch_size),
                                      name="reporting-rebuild-worker", daemon=True)
            process.start()
            sending.close()
            processes.append(process)
            channels.append(receiving)
        read = facts = invalid = 0
        open_channels = set(range(len(channels)))
        finished = 0
        while open_channels:
            moved = False
            for i in list(open_channels):
                channel = channels[i]
                try:
                    while channel.poll():
                        message = channel.recv()
                        moved = True
                        if message[0] == "read":
                            read += message[1]
                        elif message[0] == "done":
                            facts += message[2]
                            invalid += message[3]
                            finished += 1
                        else:
                            raise RuntimeError(f"a rebuild worker failed:\n{message[1]}")
                except EOFError:
                    open_channels.discard(i)
            if moved and progress:
                progress(read, total)
            if open_channels:
                await asyncio.sleep(0.05)
        if finished != len(processes):
            codes = [p.exitcode for p in processes]
            raise RuntimeError(f"a rebuild worker stopped without finishing (exit codes {codes})")
        for process in processes:
            await asyncio.to_thread(process.join)
        return read, facts, invalid
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
        for channel in channels:
            channel.close()


async def rebuild_in_parallel(database: Database, source: KafkaSnapshot, workers: int, *, batch_size: int = 20_000,
                              progress: Progress | None = None,
                              before_swap: Callable[[], Awaitable[None]] | None = None) -> RebuildReport:
    """Fill a new generation from ``source`` (opened: its offsets fix what is read) with ``workers``
    processes reading and decoding, then swap it in."""
    started = time.perf_counter()
    old, new, watermark = await prepare(database)
    rank = {tp: i for i, tp in enumerate(source.ends)}
    sizes = {tp: source.ends[tp] - source.begins[tp] for tp in source.ends}
    shares = [[(tp.topic, tp.partition, rank[tp], source.begins[tp], source.ends[tp]) for tp in share]
              for share in split(sizes, workers)]
    with tempfile.TemporaryDirectory(prefix="reporting-rebuild-") as scratch:
        paths = [str(Path(scratch) / f"load{i}.db") for i in range(len(shares))]
        records, facts, invalid = await _run_workers(source.bootstrap, shares, new, paths, batch_size, progress,
                                                     source.total)
        if paths:  # else nothing to read: an empty generation
            await move_staged_files(database, paths, batch_size)
    return await finish(database, old, new, watermark, records, facts, invalid, started, before_swap)


__all__ = ["default_workers", "rebuild_in_parallel", "split"]
