"""CAP 1.1/1.2: hardened parsing, validation, the Alert model and disaster classification."""
