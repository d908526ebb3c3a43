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

# feldera/feldera crates/feldera-types/src/checkpoint.rs `enum CheckpointActivity` at v0.336.0,
# `#[serde(tag = "status", rename_all = "snake_case")]`: the values of `status`.
CHECKPOINT_ACTIVITY: tuple[str, ...] = ("idle", "delayed", "in_progress")

# feldera/feldera crates/feldera-types/src/suspend.rs `enum PermanentSuspendError` at v0.336.0.
PERMANENT_SUSPEND_ERROR: tuple[str, ...] = (
    "StorageRequired",
    "EnterpriseFeature",
    "UnsupportedInputEndpoint",
)
