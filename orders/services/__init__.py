"""Writes to orders. One module per use case; views, tasks and commands call these."""
