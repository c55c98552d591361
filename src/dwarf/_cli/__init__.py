"""The ``dwarf`` command line for operators and DBAs: ``migrate``, ``flows``, ``shards``, ``tasks``,
``console``.

The entry point is ``dwarf._cli.__main__:main``; ``python -m dwarf._cli`` runs the same. It uses
the public engine API only; docs/cli.md is the user's guide.
"""
