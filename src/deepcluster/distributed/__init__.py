"""Several processes: which one this is, the one place where results are combined, and batch norm over all."""
