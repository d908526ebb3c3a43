"""PeerDB's own enums, copied by hand from its protos so the tests do not take them from the code
under test. Source: PeerDB-io/peerdb protos/flow.proto `enum FlowStatus` and protos/route.proto
`enum InstanceStatus` (checked at commit 6b52fb6c, August 2026). Codes are the wire numbers."""

FLOW_STATUS: dict[int, str] = {
    0: "STATUS_UNKNOWN",
    1: "STATUS_RUNNING",
    2: "STATUS_PAUSED",
    3: "STATUS_PAUSING",
    4: "STATUS_SETUP",
    5: "STATUS_SNAPSHOT",
    6: "STATUS_TERMINATING",
    7: "STATUS_TERMINATED",
    8: "STATUS_COMPLETED",
    9: "STATUS_RESYNC",
    10: "STATUS_FAILED",
    11: "STATUS_MODIFYING",
}

INSTANCE_STATUS: dict[int, str] = {
    0: "INSTANCE_STATUS_UNKNOWN",
    1: "INSTANCE_STATUS_READY",
    3: "INSTANCE_STATUS_MAINTENANCE",
}

# Postgres' pg_replication_slots.wal_status (Postgres 13+ docs, "pg_replication_slots"), which
# PeerDB passes on as SlotInfo.walStatus; PeerDB writes "unknown" itself before Postgres 13
# (flow/connectors/postgres/client.go `getSlotInfo`).
WAL_STATUS: tuple[str, ...] = ("reserved", "extended", "unreserved", "lost")
