"""The DeepCluster rounds: one modular pipeline, instantiated once per round."""
