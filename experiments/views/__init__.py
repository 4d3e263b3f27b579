"""Pages of the experiments app: ``experiments`` (list, detail, design, start and stop) and
``calculator`` (analyse counts, plan a test). Their URLs are in ``experiments.web_urls``."""
