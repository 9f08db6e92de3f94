"""Validated input containers, one module per kind of data.

- :mod:`.capture`: :class:`CaptureTable` (people by capture pattern over K lists);
- :mod:`.counts`: :class:`ConfirmedCounts` (deaths confirmed by one source);
- :mod:`.triangle`: :class:`ReportingTriangle` (counts by event period and reporting delay);
- :mod:`._common`: what they share (reading CSV files, checking counts, labels).

Inputs are validated once, here, at the boundary; models trust them.
"""

from __future__ import annotations

from ._common import (
    DEFAULT_PERIOD,
    DEFAULT_STRATUM,
    MAX_COUNT,
    observable_patterns,
    pattern_label,
    read_csv_file,
)
from .capture import CaptureTable
from .counts import ConfirmedCounts
from .triangle import ReportingTriangle

__all__ = [
    "DEFAULT_PERIOD",
    "DEFAULT_STRATUM",
    "MAX_COUNT",
    "CaptureTable",
    "ConfirmedCounts",
    "ReportingTriangle",
    "observable_patterns",
    "pattern_label",
    "read_csv_file",
]
