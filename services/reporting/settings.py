"""Settings of the reporting service (``PROBIDAD_*`` environment variables)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from probidad.shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    http_port: int = Field(8004, ge=1, le=65535)
    responsible_unit: str = Field(
        "Secretaría de la Contraloría del Estado — Unidad de Ética, Integridad y Prevención de Conflictos de Interés",
        description="Named on every open-data row as the unit answerable for the figures.")
    open_data_minimum_count: int = Field(5, ge=1, le=100, description="Counts below this are suppressed in open data.")
    programme_language: Literal["es", "en"] = Field(
        "es", description="The programme's language: the bulletin is written in it unless asked for another.")
    rebuild_batch_size: int = Field(20_000, ge=100, le=500_000, description="Facts per bulk insert during a rebuild.")
