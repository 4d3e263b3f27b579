"""Business logic of experiments: design, lifecycle, exposures, analysis and alerts."""
