"""``python -m archsmith`` runs the CLI."""

from .cli import main

main()
