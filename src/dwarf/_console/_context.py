"""What every route shares: the settings, the guard, the engine, and rendering a template.

Constraints:

- Jinja2 autoescapes every template (``.html``), so every value a page shows (state, errors,
  keys, workflow and task names, Mermaid source) reaches the browser as text, never as markup.
- Error text shown to the user has the DSN's secrets scrubbed and any URL's password masked, as
  the command line does: a driver message quoting a DSN must not leak its password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse

from dwarf._console._security import CSRF_FIELD, Guard
from dwarf._console._settings import ConsoleSettings
from dwarf._console._views import DONE, duration_text, json_text, timestamp_text
from dwarf._storage import mask_dsn, parse_dsn, scrub
from dwarf.engine import Engine
from dwarf.errors import UnavailableError

__all__ = ["Console", "console_of"]

TEMPLATES: Final = Path(__file__).parent / "templates"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


@dataclass
class Console:
    """One console process: its settings, its guard and (once started) its operator engine."""

    settings: ConsoleSettings
    guard: Guard
    engine_or_none: Engine | None = None
    templates: Environment = field(init=False)
    dsn_label: str = field(init=False)
    _secrets: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        dsn = parse_dsn(self.settings.dsn)
        self.dsn_label = dsn.masked()
        self._secrets = dsn.secrets()
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["json"] = json_text
        self.templates.filters["when"] = timestamp_text
        self.templates.filters["span"] = duration_text
        self.templates.globals["done_messages"] = DONE

    @property
    def engine(self) -> Engine:
        """The started operator engine."""
        if self.engine_or_none is None:
            raise UnavailableError("the console's engine is not running")
        return self.engine_or_none

    def clean(self, text: str) -> str:
        """``text`` with the DSN's secrets scrubbed and every URL's password masked."""
        return _URL.sub(lambda m: mask_dsn(m.group()), scrub(text, self._secrets))

    def render(
        self, request: Request, template: str, status_code: int = 200, **values: Any
    ) -> HTMLResponse:
        """Render ``template`` with ``values`` and what every page needs (session, CSRF)."""
        session = self.guard.session_of(request)
        html = self.templates.get_template(template).render(
            request=request,
            read_only=self.guard.read_only,
            logged_in=session is not None,
            csrf_field=CSRF_FIELD,
            csrf=self.guard.csrf_token(session) if session is not None else "",
            dsn_label=self.dsn_label,
            graphs=self.settings.graph_loader is not None,
            refresh_ms=int(self.settings.refresh_seconds * 1000),
            **values,
        )
        return HTMLResponse(html, status_code=status_code)


def console_of(request: Request) -> Console:
    """The console serving ``request``."""
    console: Console = request.app.state.console
    return console
