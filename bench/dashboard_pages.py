"""CPU cost of small-count suppression on the public dashboard and the bulletin, against the same pages unsuppressed.

    python bench/dashboard_pages.py [--scale 1] [--repeat 3]

Since every public page is decided as one publication with every identity its reader can see (complementary
blanks chosen greedily until linear programming finds no blank narrower than a small count), rendering a page
costs more than rendering its numbers. A programme is generated (probidad/ops/programme.py: the bulletin's
year scaled by ``--scale``), reduced to facts, and one snapshot resolved; then, in the same run:

* baseline: each page rendered with a minimum count of 1 (nothing suppressed: the engine returns at once);
* suppressed: the same pages with the default minimum of 5, first with the shared tables' decisions not yet
  remembered (the first page a reporting process serves after a change), then warm (every later page);
* the bulletin as printed (the dashboard's month and January-to-month pages built to print each count of
  people as they show it).

Pages: the year, each month, each January-to-month, for all institutions, and the year of each institution.
Prints CPU seconds (best of ``--repeat``) and each suppressed figure as a ratio to its baseline. Runs on one core.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probidad.ops.programme import generate, scaled_plan
from services.reporting import bulletin, dashboard_suppression
from services.reporting.dashboard import render_dashboard
from services.reporting.domain.facts import fact_from
from services.reporting.domain.ledger import Ledger

YEAR, TODAY, UNIT = 2026, date(2027, 1, 15), "Unidad de Ética"


def best(repeat: int, run: Callable[[], object], before: Callable[[], None] = lambda: None) -> float:
    times = []
    for _ in range(repeat):
        before()
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    programme = generate(scaled_plan(args.scale))
    ledger = Ledger()
    ledger.apply_all(f for e in programme.envelopes if (f := fact_from(e)))
    snapshot = ledger.snapshot(ZoneInfo("America/Cancun"))
    institutions = sorted(snapshot.institutions)
    pages = [("year", None, None)] + [(p, m, None) for p in ("month", "ytd") for m in range(1, 13)]
    pages += [("year", None, i) for i in institutions]

    def render_all(minimum: int) -> None:
        for period, month, institution in pages:
            render_dashboard(snapshot, YEAR, as_of=None, unit=UNIT, minimum=minimum, period=period, month=month,
                             institution=institution, today=TODAY)

    def forget() -> None:
        dashboard_suppression._DECIDED.clear()

    def bulletins(minimum: int) -> None:
        for month in range(1, 13):
            figures = bulletin.bulletin_figures(snapshot, YEAR, month, as_of=None, today=TODAY)
            bulletin.shown_figures(snapshot, figures, minimum=minimum, unit=UNIT, today=TODAY)

    render_all(5)  # imports and first-call costs out of the way
    baseline = best(args.repeat, lambda: render_all(1))
    cold = best(args.repeat, lambda: render_all(5), forget)
    warm = best(args.repeat, lambda: render_all(5))
    plain_bulletins = best(args.repeat, lambda: bulletins(1))
    shown_bulletins = best(args.repeat, lambda: bulletins(5), forget)
    n = len(pages)
    print(f"{len(programme.envelopes):,} events; {n} dashboard pages; 12 bulletins "
          f"(CPU seconds, best of {args.repeat})")
    print(f"  dashboard, nothing suppressed (baseline) {baseline:7.2f} s  {baseline / n * 1000:6.0f} ms a page")
    print(f"  dashboard, suppressed, first pages       {cold:7.2f} s  {cold / n * 1000:6.0f} ms a page"
          f"  {cold / baseline:5.1f}x the baseline")
    print(f"  dashboard, suppressed, decisions kept    {warm:7.2f} s  {warm / n * 1000:6.0f} ms a page"
          f"  {warm / baseline:5.1f}x the baseline")
    print(f"  bulletins' counts as shown, minimum 1    {plain_bulletins:7.2f} s")
    print(f"  bulletins' counts as shown, minimum 5    {shown_bulletins:7.2f} s"
          f"  {shown_bulletins / plain_bulletins:5.1f}x")


if __name__ == "__main__":
    main()
