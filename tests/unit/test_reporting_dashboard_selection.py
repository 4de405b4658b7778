"""The dashboard answers any selection a reader can type: an institution it does not know is a page of
zeros, never a server error (the public page's small-count decisions have nothing of it to share)."""

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from services.reporting.dashboard import render_dashboard
from services.reporting.domain.ledger import Ledger


@pytest.mark.parametrize("period", ["year", "ytd", "month"])
@pytest.mark.parametrize("institution", ["no-such-institution", "©i\x9dãé", None])
def test_an_unknown_institution_gets_a_page_not_a_server_error(period, institution):
    snapshot = Ledger().snapshot(ZoneInfo("America/Cancun"))
    page = render_dashboard(snapshot, 2026, as_of=None, unit="Unidad de Ética", minimum=5, period=period,
                            month=None, institution=institution, today=date(2026, 12, 7))
    assert "<html" in page.lower()
