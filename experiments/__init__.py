"""A/B experiments: design, assignment, exposures, analysis and results."""
