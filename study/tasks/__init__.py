"""Tasks are data plus a format: a registry of named tasks, and one module per format."""
