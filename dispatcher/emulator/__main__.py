"""``python -m dispatcher.emulator``: run the provider emulator in the foreground."""

from dispatcher.emulator.cli import main

main()
