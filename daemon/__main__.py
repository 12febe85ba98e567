"""`python -m daemon` is `closedloop`."""

from daemon.cli import main

main()
