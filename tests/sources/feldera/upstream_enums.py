"""Feldera's own deployment statuses, copied by hand so the tests do not take them from the code
under test. Source: feldera/feldera crates/pipeline-manager/src/db/types/combined_status.rs
`enum CombinedStatus`, in declaration order (checked at commit 5c7931d0, August 2026)."""

COMBINED_STATUS: tuple[str, ...] = (
    "Stopped",
    "Provisioning",
    "Unavailable",
    "Coordination",
    "Standby",
    "AwaitingApproval",
    "Initializing",
    "Bootstrapping",
    "ConcurrentBootstrapping",
    "Synchronizing",
    "Replaying",
    "Paused",
    "Running",
    "Suspended",
    "Stopping",
)
