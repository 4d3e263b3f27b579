from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "experiments"

    def ready(self) -> None:
        # Outcomes lives below experiments and never imports it: it asks registered providers
        # for the experiments linked to a key result (see docs/outcomes.md, "the contract").
        from experiments.selectors import key_result_linked_experiments
        from outcomes.okrs.contracts import register_linked_experiments_provider

        register_linked_experiments_provider(key_result_linked_experiments)
