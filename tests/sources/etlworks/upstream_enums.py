"""Etlworks' execution statuses, stated by hand so the tests do not take them from the code under
test. Etlworks is closed source: these are the status strings its "Get flow status" API docs
list (see fixtures/README.md, "Confirmed status strings")."""

EXECUTION_STATUS: tuple[str, ...] = ("queued", "running", "success", "warning", "error", "canceled")
