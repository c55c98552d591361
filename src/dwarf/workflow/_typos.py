"""Near-miss names: what "did you mean ...?" suggestions are made of.

A misspelt transition endpoint silently creates a task (an endpoint naming nothing auto-registers
one, as upstream does), and a misspelt handler URL only shows up when a step runs. Both errors
name the closest known names so the fix is in the message (docs/internals/routing.md#r7).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["TYPO_DISTANCE", "edit_distance", "is_near_miss", "nearest"]

TYPO_DISTANCE = 2
"""Most single edits (insert, delete, substitute) that still make two names a likely typo."""


def edit_distance(a: str, b: str) -> int:
    """The Levenshtein distance between ``a`` and ``b``."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


def is_near_miss(name: str, known: str) -> bool:
    """Whether ``name`` looks like a typo of the different name ``known``: they differ only in
    case, or by at most ``TYPO_DISTANCE`` edits while sharing at least one character's worth of
    text (so ``"a"`` is not a typo of ``"b"``)."""
    if name == known:
        return False
    if name.casefold() == known.casefold():
        return True
    distance = edit_distance(name, known)
    return distance <= TYPO_DISTANCE and distance < max(len(name), len(known))


def nearest(
    name: str, known: Iterable[str], limit: int = 3, *, only_typos: bool = True
) -> list[str]:
    """The names in ``known`` closest to ``name``, closest first: only its near
    misses, or with ``only_typos=False`` the closest ones whatever their distance."""
    scored = sorted(
        # Letter case counts less than any other edit, but breaks ties between equals.
        (edit_distance(name.casefold(), other.casefold()), edit_distance(name, other), other)
        for other in set(known)
        if other != name and (is_near_miss(name, other) or not only_typos)
    )
    return [other for _folded, _exact, other in scored[:limit]]
