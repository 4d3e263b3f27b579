"""Forms of the outcomes pages: they check the input's shape and turn page units (percentages,
comma-separated lists) into what the services take; the services validate the rest."""
