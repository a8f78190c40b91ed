"""sendwatch: the application shell (CLI, settings, HTTP server, wiring)."""
