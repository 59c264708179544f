"""Turning features into partitions: k-means, Ward, PIC, SCAN, the PCA before them, resampling."""
