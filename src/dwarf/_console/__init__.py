"""The web console for operators: flows, a flow's timeline and diagram, shards, actions.

``dwarf console`` serves it with uvicorn (``dwarf._cli``); ``create_app(ConsoleSettings(...))``
gives the ASGI application for any other server. It needs the ``console`` extra (Starlette,
Jinja2, uvicorn) and uses the public engine API only, through an engine that runs no step.
docs/console.md is the user's guide, including the security model.
"""

from dwarf._console._app import create_app
from dwarf._console._settings import ConsoleSettings, load_graph_loader

__all__ = ["ConsoleSettings", "create_app", "load_graph_loader"]
