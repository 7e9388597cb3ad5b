"""``python -m dispatcher`` runs the command line."""

from dispatcher.cli.main import main

main()
