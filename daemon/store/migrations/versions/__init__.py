"""Schema revisions, oldest first; each matches daemon/store/tables.py at its time."""
