"""Pure projections: events and a "now" in, statutory clocks and measures out.

No I/O, no clock reads, no global state: the same fold runs in the embedded service, in a
Faust worker, in the report and in tests.
"""

from projections.case import CaseFile, Clock, fold_case
from projections.law import CLOCK_IDS, CLOCKS
from projections.measures import Period, measures
from projections.projector import Projector

__all__ = [
    "CLOCKS",
    "CLOCK_IDS",
    "CaseFile",
    "Clock",
    "Period",
    "Projector",
    "fold_case",
    "measures",
]
