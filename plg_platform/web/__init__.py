"""What every app's pages share: ``pages`` (the workspace and role check, a 404 for another
workspace's objects, a service's error shown beside its field) and ``forms`` (the base form and
inputs of our pages)."""
