"""What a console is started with, and the ``--graphs module:callable`` loader it may be given.

Constraints:

- The console is an operator surface: it never needs the application's graph loader. Given one,
  it draws a workflow's graph; without one, that page says how to give it.
- A graph loader spec is ``module:attribute`` (dotted attributes allowed, e.g.
  ``myapp.flows:proxy.load_graph``) naming an async ``(workflow_name) -> Graph`` callable; a spec
  that does not resolve to a callable is a ``BadRequestError`` naming ``--graphs``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Final

from dwarf.engine import GraphLoader
from dwarf.errors import BadRequestError

__all__ = ["ConsoleSettings", "load_graph_loader"]

_DEFAULT_REFRESH: Final = 3.0


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """How to reach the flows and who may change them.

    ``dsn`` and ``shards`` are the engine's; ``token`` (empty: a read-only console) is what an
    operator types at ``/login`` to be allowed actions; ``allowed_hosts`` limits the ``Host``
    header (empty: any), which keeps a console on a loopback address from being read through DNS
    rebinding; ``refresh_seconds`` is how often pages poll flows that are still moving.
    """

    dsn: str
    shards: int = 1
    token: str = ""
    graph_loader: GraphLoader | None = None
    allowed_hosts: tuple[str, ...] = ()
    refresh_seconds: float = _DEFAULT_REFRESH


def load_graph_loader(spec: str) -> GraphLoader:
    """The callable named by ``module:attribute`` (``--graphs``)."""
    module_name, colon, attribute = spec.partition(":")
    if not (colon and module_name and attribute):
        raise BadRequestError(f"--graphs must look like module:callable, got {spec!r}")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise BadRequestError(f"--graphs: cannot import {module_name!r}: {exc}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise BadRequestError(f"--graphs: {spec!r} has no attribute {part!r}") from None
    if not callable(target):
        raise BadRequestError(f"--graphs: {spec!r} is not callable")
    loader: GraphLoader = target
    return loader
