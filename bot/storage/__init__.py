"""The session store interface and its backends, the one SQLite file, and the journal."""
