"""Writes without HTTP: the durable task queue, the applier that turns tasks into index changes, and the
writer thread's lifecycle."""
