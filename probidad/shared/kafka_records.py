"""Record batches as aiokafka's fetcher reads them, except that a header *name* that is not UTF-8 no
longer stops a partition for good.

aiokafka decodes every header name as UTF-8 while it unpacks a fetched batch, below any code of ours:
one record with such a name (any client can send one; kcat does) makes every poll of its partition
raise ``UnicodeDecodeError``, so neither it nor anything after it is ever decided — the partition is
stuck. Our reader keeps aiokafka's fast (compiled) parser for every batch, and only for a batch that
parser cannot finish re-reads it in pure Python with undecodable name bytes kept as lone surrogates
(``surrogateescape``). The consumer then sees such a name, which no CloudEvents attribute can have,
and dead-letters the record with its reason (``contracts.envelope``): decided like any other record.

``install()`` puts the reader in place of ``aiokafka.consumer.fetcher.MemoryRecords``; it is called
once, when ``probidad.shared.kafka`` is imported. The batch layout it relies on is Kafka's
(base offset int64, batch length int32, then the batch), which does not change between versions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiokafka.consumer import fetcher as _fetcher
from aiokafka.record.default_records import _DefaultRecordBatchPy
from aiokafka.record.memory_records import MemoryRecords as _FastMemoryRecords

_LOG_OVERHEAD = 12  # base offset (int64) and batch length (int32) before each batch
_MAGIC_AT = 16  # the batch's format version: base offset, length, partition leader epoch (int32)


class _Tolerant(bytearray):
    """Batch bytes whose slices decode undecodable bytes as lone surrogates instead of raising."""

    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        return _Tolerant(item) if isinstance(index, slice) else item

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:  # noqa: ARG002
        return super().decode(encoding, "surrogateescape")


class _TolerantBatch(_DefaultRecordBatchPy):
    """aiokafka's pure-Python batch reader over ``_Tolerant`` bytes (also once decompressed)."""

    def __init__(self, buffer: memoryview) -> None:
        super().__init__(buffer)
        self._buffer = _Tolerant(self._buffer)

    def _maybe_uncompress(self) -> None:
        super()._maybe_uncompress()
        if not isinstance(self._buffer, _Tolerant):
            self._buffer = _Tolerant(self._buffer)


class _Batch:
    """One fetched batch: aiokafka's own, re-read tolerantly from the first record it cannot unpack."""

    def __init__(self, fast: Any, raw: memoryview) -> None:
        self._fast, self._raw = fast, raw
        self._iterator: Iterator | None = None

    def __getattr__(self, name: str) -> Any:  # base_offset, next_offset, validate_crc, is_control_batch, …
        return getattr(self._fast, name)

    def __iter__(self) -> _Batch:
        return self

    def __next__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._records()
        return next(self._iterator)

    def _records(self) -> Iterator[Any]:
        last = None
        try:
            for record in self._fast:
                last = record.offset
                yield record
        except UnicodeDecodeError:
            if self._raw[_MAGIC_AT] < 2:
                raise  # the old formats have no headers: not the case this reader is for
            for record in _TolerantBatch(self._raw):
                if last is None or record.offset > last:
                    yield record


class TolerantMemoryRecords:
    """Drop-in for aiokafka's ``MemoryRecords``: the same batches, each a ``_Batch``."""

    def __init__(self, data: bytes) -> None:
        self._fast = _FastMemoryRecords(data)
        self._raw = _batches(data)

    def has_next(self) -> bool:
        return self._fast.has_next()

    def next_batch(self) -> _Batch | None:
        fast = self._fast.next_batch()
        return None if fast is None else _Batch(fast, next(self._raw))

    def size_in_bytes(self) -> int:
        return self._fast.size_in_bytes()


def _batches(data: bytes) -> Iterator[memoryview]:
    """The bytes of each whole batch in a fetch response's record set, in order (a trailing partial
    batch, which the broker may send, is left out, as aiokafka leaves it out)."""
    view, position = memoryview(data), 0
    while position + _LOG_OVERHEAD <= len(view):
        length = int.from_bytes(view[position + 8:position + _LOG_OVERHEAD], "big", signed=True)
        end = position + _LOG_OVERHEAD + length
        if end > len(view):
            return
        yield view[position:end]
        position = end


def install() -> None:
    _fetcher.MemoryRecords = TolerantMemoryRecords
