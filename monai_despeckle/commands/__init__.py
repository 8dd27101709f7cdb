"""Subcommands of the ``monai-despeckle`` command line (one module each, wired in cli.py)."""
