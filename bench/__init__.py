"""The bench: the `tokenbench` command, targets, the pytest plugin and the conformance suites."""
