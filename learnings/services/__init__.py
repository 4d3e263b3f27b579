"""Writes of the learnings app. The entry point for concluded experiments is re-exported here:

from learnings.services import learning_record_from_experiment
"""

from learnings.services.from_experiment import (
    ExperimentFacts,
    learning_record_from_experiment,
    learning_record_from_result,
)

__all__ = ["ExperimentFacts", "learning_record_from_experiment", "learning_record_from_result"]
