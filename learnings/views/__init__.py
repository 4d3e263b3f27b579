"""Pages of the learnings library: ``search`` (search with facets, export links), ``learning``
(a learning's page, edits, effect overrides, adding one by hand), ``areas`` (the product-area
taxonomy), ``insights`` (the meta-analysis, "have we tried this before?") and ``conclude``
(concluding an experiment, which records its learning). Their URLs are in
``learnings.web_urls``."""
