"""Confluent's own cluster-link enums, copied by hand so the tests do not take them from the code
under test. Source: confluentinc/ccloud-sdk-go-v2 kafkarest/v3/api/openapi.yaml (checked at
commit b5d63ec4, August 2026): `link_state` (x-extensible-enum of ListLinksResponseData) and the
`MirrorTopicStatus` schema's enum, each in the spec's order."""

LINK_STATE: tuple[str, ...] = ("ACTIVE", "FAILED", "UNAVAILABLE", "PAUSED", "UNKNOWN")

MIRROR_TOPIC_STATUS: tuple[str, ...] = (
    "ACTIVE",
    "FAILED",
    "LINK_FAILED",
    "LINK_PAUSED",
    "PAUSED",
    "PENDING_STOPPED",
    "SOURCE_UNAVAILABLE",
    "STOPPED",
    "PENDING_MIRROR",
    "PENDING_SYNCHRONIZE",
    "PENDING_SETUP_FOR_RESTORE",
    "PENDING_RESTORE",
)

# The `LinkTaskState` schema's x-extensible-enum (LinkTask.state), in the spec's order.
LINK_TASK_STATE: tuple[str, ...] = (
    "UNKNOWN",
    "ACTIVE",
    "IN_ERROR",
    "NOT_CONFIGURED",
    "LINK_FAILED",
    "LINK_UNAVAILABLE",
    "LINK_PAUSED",
)
