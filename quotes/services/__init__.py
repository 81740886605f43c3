"""Writes to quotes, one module per use case. Views, tasks and the orders app call these."""
