"""Sampling to files, the layer above the pipeline's ``__call__``: flat tables in chunks (CSV, JSON Lines, Parquet),
nested records with tool-call re-draws (one JSON Lines file), and large N as resumable Parquet shards spread over
processes. ``ldlm sample`` / ``ldlm complete`` and the demo are thin wrappers of these."""
