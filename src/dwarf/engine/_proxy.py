"""``Registry``: an in-process graph loader and task executor (``TestProxy`` is its test name).

An application whose tasks are Python functions in its own process registers its graphs and
handlers here and hands ``load_graph``/``execute_task`` to the engine. ``TestProxy`` (the name
the API contract gives it) is the same class for tests and demos: a production host should not
have to register its handlers on something called a test proxy. It maps workflow names to graphs
and task URLs to Python handlers. A handler is ``async def
h(flow) -> None``; a plain ``def`` is accepted and run in a worker thread (``asyncio.to_thread``
copies the context, so ``current_baggage()`` works there too).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dwarf.errors import NotFoundError
from dwarf.workflow import Flow, Graph
from dwarf.workflow._typos import nearest

__all__ = ["Handler", "Registry", "TestProxy"]

Handler = Callable[[Flow], Awaitable[None]] | Callable[[Flow], None]
"""A task handler: async or plain."""

H = TypeVar("H", bound=Handler)


class Registry:
    """Serves graphs and task handlers registered in-process (``load_graph``/``execute_task``)."""

    def __init__(self) -> None:
        """An empty registry."""
        self._graphs: dict[str, Graph] = {}
        self._handlers: dict[str, Handler] = {}

    def handle_graph(self, name: str, graph: Graph) -> None:
        """Serve ``graph`` for workflow ``name``."""
        self._graphs[name] = graph

    def handle_task(self, url: str, handler: Handler) -> None:
        """Run ``handler`` for tasks dispatched to ``url``."""
        self._handlers[url] = handler

    def task(self, url: str) -> Callable[[H], H]:
        """Decorator form of ``handle_task``."""

        def register(handler: H) -> H:
            self.handle_task(url, handler)
            return handler

        return register

    async def load_graph(self, name: str) -> Graph:
        """The graph registered for ``name`` (the engine only reads it, and freezes its JSON)."""
        graph = self._graphs.get(name)
        if graph is None:
            raise NotFoundError(f"workflow {name!r} is not registered with the registry")
        return graph

    async def execute_task(self, url: str, flow: Flow) -> None:
        """Run the handler registered for ``url`` against ``flow``."""
        handler = self._handlers.get(url)
        if handler is None:
            near = nearest(url, self._handlers, only_typos=False)
            hint = f" (nearest registered: {', '.join(map(repr, near))})" if near else ""
            raise NotFoundError(f"no task handler is registered for {url!r}{hint}")
        if inspect.iscoroutinefunction(handler):
            await handler(flow)
            return
        result = await asyncio.to_thread(handler, flow)
        if inspect.isawaitable(result):
            await result


class TestProxy(Registry):
    """The ``Registry`` under the name the API contract gives it, for tests and demos."""

    __test__ = False  # not a pytest test class, despite the name
