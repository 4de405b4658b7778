"""Rows per second importing a 100,000-row Zoom participants report: read, merge and match.

The report is generated here: 20,000 participants, 5 connections each (reconnections, overlaps, joins
before the start and leaves after the end), 90 % of them enrolled and matched by e-mail digest. The
baseline is a bare ``csv.reader`` over the same text in the same run, so the ratio says what our
reading, time-zone conversion, matching and interval merging cost on top of just splitting the CSV.

    python bench/attendance_import.py [--rows 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts.pseudonyms import email_digest
from services.attendance.domain.intervals import Roster, SessionWindow, covered_seconds, match_rows, merge_intervals
from services.attendance.domain.reports import parse_report

ZONE = "America/Cancun"
KEY = "bench-digest-key"
CONNECTIONS = 5
TARGET_ROWS_PER_S = 50_000


def generate(rows: int, seed: int = 7) -> tuple[bytes, SessionWindow, Roster]:
    random.seed(seed)
    zone = ZoneInfo(ZONE)
    starts = datetime(2026, 11, 5, 10, 0, tzinfo=zone)
    window = SessionWindow("ses-bench", int(starts.timestamp()), int((starts + timedelta(hours=2)).timestamp()), ZONE)
    people = rows // CONNECTIONS
    lines = ["Meeting ID,Topic,Start Time,End Time,User Email,Duration (Minutes),Participants",
             "812 3456 7890,Código de Ética,11/05/2026 09:50:00 AM,11/05/2026 12:10:00 PM,"
             f"host@example.gob.mx,140,{people}",
             "",
             "Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest,Recording Consent,"
             "In Waiting Room"]
    enrolled, by_digest = {}, {}
    for person in range(people):
        email = f"servidor.{person}@dependencia{person % 40}.example.gob.mx"
        if person % 10:
            servant = f"srv-{person}"
            enrolled[servant] = f"inst-{person % 40}"
            by_digest[email_digest(email, KEY)] = servant
        cursor = starts - timedelta(minutes=10) + timedelta(seconds=random.randint(0, 1800))
        for _ in range(CONNECTIONS):
            joined = cursor
            left = joined + timedelta(seconds=random.randint(300, 2400))
            cursor = left + timedelta(seconds=random.randint(-120, 300))  # overlaps and gaps
            lines.append(f"Servidor {person},{email},{joined:%m/%d/%Y %I:%M:%S %p},{left:%m/%d/%Y %I:%M:%S %p},"
                         f"{(left - joined).seconds // 60},No,Yes,No")
    return ("\r\n".join(lines) + "\r\n").encode(), window, Roster(enrolled, by_digest)


def baseline(data: bytes) -> int:
    return sum(1 for _ in csv.reader(io.StringIO(data.decode())))


def import_report(data: bytes, window: SessionWindow, roster: Roster) -> tuple[int, dict[str, int], int]:
    report = parse_report(data, timezone=window.timezone, session_start=window.starts_at, format="auto")
    match = match_rows(report.rows, roster, lambda email: email_digest(email, KEY))
    minutes = {s: covered_seconds(merge_intervals(iv, window.window)) // 60 for s, iv in match.intervals.items()}
    return len(report.rows), minutes, len(match.unmatched)


def best_of(repeat: int, fn, *args):
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data, window, roster = generate(args.rows)
    base_s, _ = best_of(args.repeat, baseline, data)
    ours_s, (rows, minutes, unmatched) = best_of(args.repeat, import_report, data, window, roster)
    assert rows == args.rows // CONNECTIONS * CONNECTIONS and minutes and unmatched
    base_rate, ours_rate = rows / base_s, rows / ours_s
    print(f"report: {rows} rows, {len(data) / 1e6:.1f} MB, {len(minutes)} servants matched, {unmatched} rows unmatched")
    print(f"baseline csv.reader:          {base_rate:>12,.0f} rows/s ({base_s * 1000:.0f} ms)")
    print(f"read + merge + match (ours):  {ours_rate:>12,.0f} rows/s ({ours_s * 1000:.0f} ms)")
    print(f"ratio ours/baseline: {ours_rate / base_rate:.3f}  "
          f"(target {TARGET_ROWS_PER_S:,} rows/s: {'met' if ours_rate >= TARGET_ROWS_PER_S else 'NOT met'})")


if __name__ == "__main__":
    main()
