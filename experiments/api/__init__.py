"""HTTP API of experiments: thin views over ``experiments.services``."""
