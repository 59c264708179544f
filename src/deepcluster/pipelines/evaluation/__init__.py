"""Evaluate the final network: clustering into the true number of classes, against baselines."""
