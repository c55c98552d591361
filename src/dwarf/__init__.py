"""dwarf: an embeddable, durable workflow-orchestration engine for asyncio.

Importing ``dwarf`` is cheap: the engine (and with it the database drivers and OpenTelemetry)
loads only when ``new_engine()`` is first called.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dwarf.engine import Engine

__all__ = ["__version__", "new_engine"]

__version__ = "0.1.0"


def new_engine() -> Engine:
    """Return a new, unconfigured ``dwarf.engine.Engine`` (the same as ``Engine()``)."""
    from dwarf.engine import Engine

    return Engine()


# A library logs through its own logger and leaves output to the host (silent until configured).
logging.getLogger("dwarf").addHandler(logging.NullHandler())
