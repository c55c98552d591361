"""The ``dwarf`` command line: administrative commands (``dwarf migrate``) for operators and DBAs.

The entry point is ``dwarf._cli.__main__:main``; ``python -m dwarf._cli`` runs the same.
"""
