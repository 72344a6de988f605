"""Subcommands of the ``loco`` console script, one module each (see :mod:`loco.cli`)."""
