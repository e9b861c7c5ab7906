"""The index: the Whoosh schema and analyzers (the one place that says what a field is), the on-disk store
(generations behind an atomic marker), and the indexer that fills it."""
