"""Forms of the experiment pages and the statistics calculator.

They check the input's shape and turn the page's units (percentages, standard deviations) into
the services' and the engine's (fractions, sums); the rules themselves stay in
``experiments.services.design`` and in the statistics engine, whose errors the views show next
to the field they name.
"""
