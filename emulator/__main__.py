"""``python -m emulator``: run the provider emulator in the foreground."""

from emulator.cli import main

main()
