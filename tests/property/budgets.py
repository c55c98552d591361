"""Example budgets of the property tests whose examples wait out real time.

Their full budgets cost tens of seconds per run, so the default Hypothesis profile runs fewer
examples of them; the ``thorough`` profile runs the full budgets:
``./scripts/check --hypothesis-profile=thorough`` (or the same option to ``pytest``). The profile
is registered from tests/conftest.py, before Hypothesis's pytest plugin loads the one asked for.
"""

from __future__ import annotations

from hypothesis import settings

THOROUGH = "thorough"
"""The profile that runs every budget in full."""

settings.register_profile(THOROUGH, settings.get_profile("default"))


def examples(quick: int, thorough: int) -> int:
    """``thorough`` under the thorough profile, else ``quick``."""
    return thorough if settings.get_current_profile_name() == THOROUGH else quick
