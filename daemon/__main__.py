"""`python -m closedloop.daemon` is `closedloop`."""

from closedloop.daemon.cli import main

main()
