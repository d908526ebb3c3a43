"""Colour by meaning: every state the sources' state sets know, and the value mappings of the
dashboards' yes/no panels."""

from __future__ import annotations

from typing import Any

from dataflow_exporter.families import StateSet
from dataflow_exporter.sources import confluent as confluent_source
from dataflow_exporter.sources import etlworks as etlworks_source
from dataflow_exporter.sources import feldera as feldera_source
from dataflow_exporter.sources import peerdb as peerdb_source

GREEN, RED, ORANGE, YELLOW, BLUE, GREY, PURPLE = (
    "green",
    "red",
    "orange",
    "yellow",
    "blue",
    "text",
    "purple",
)

# Colour by meaning. Every state of the sources' own state sets (STATE_SETS) must have one: the
# generator stops, naming the state, when an exporter upgrade adds a state without a colour here.
COLOURS = {
    # PeerDB
    "STATUS_RUNNING": GREEN,
    "STATUS_COMPLETED": BLUE,
    "STATUS_PAUSED": ORANGE,
    "STATUS_PAUSING": YELLOW,
    "STATUS_SETUP": YELLOW,
    "STATUS_SNAPSHOT": BLUE,
    "STATUS_RESYNC": YELLOW,
    "STATUS_MODIFYING": YELLOW,
    "STATUS_TERMINATING": YELLOW,
    "STATUS_TERMINATED": GREY,
    "STATUS_FAILED": RED,
    "STATUS_UNKNOWN": PURPLE,
    # PeerDB replication slots (Postgres' wal_status)
    "reserved": GREEN,
    "extended": YELLOW,
    "unreserved": ORANGE,
    "lost": RED,
    # Confluent
    "ACTIVE": GREEN,
    "FAILED": RED,
    "LINK_FAILED": RED,
    "SOURCE_UNAVAILABLE": RED,
    "UNAVAILABLE": RED,
    "PAUSED": ORANGE,
    "LINK_PAUSED": ORANGE,
    "STOPPED": GREY,
    "PENDING_MIRROR": YELLOW,
    "PENDING_SYNCHRONIZE": YELLOW,
    "PENDING_STOPPED": YELLOW,
    "PENDING_SETUP_FOR_RESTORE": YELLOW,
    "PENDING_RESTORE": YELLOW,
    "UNKNOWN": PURPLE,
    "IN_ERROR": RED,
    "NOT_CONFIGURED": GREY,
    "LINK_UNAVAILABLE": RED,
    # Feldera
    "Running": GREEN,
    "Paused": ORANGE,
    "Stopped": GREY,
    "Stopping": YELLOW,
    "Provisioning": YELLOW,
    "Initializing": YELLOW,
    "Bootstrapping": YELLOW,
    "ConcurrentBootstrapping": YELLOW,
    "Synchronizing": YELLOW,
    "Replaying": YELLOW,
    "Coordination": YELLOW,
    "AwaitingApproval": YELLOW,
    "Standby": BLUE,
    "Unavailable": RED,
    "Suspended": ORANGE,
    "Suspending": YELLOW,
    "Healthy": GREEN,
    "Unhealthy": RED,
    "Pending": YELLOW,
    "CompilingSql": YELLOW,
    "SqlCompiled": YELLOW,
    "CompilingRust": YELLOW,
    "Success": GREEN,
    "SqlError": RED,
    "RustError": RED,
    "SystemError": RED,
    "idle": GREEN,
    "in_progress": BLUE,
    "delayed": ORANGE,
    # Etlworks
    "success": GREEN,
    "warning": YELLOW,
    "error": RED,
    "running": BLUE,
    "queued": PURPLE,
    "canceled": GREY,
}

# The state sets whose `status` label the dashboards colour, per system.
STATE_SETS: dict[str, tuple[StateSet, ...]] = {
    "peerdb": (peerdb_source.FLOW_STATUSES, peerdb_source.WAL_STATUSES),
    "confluent": (
        confluent_source.LINK_STATES,
        confluent_source.MIRROR_STATUSES,
        confluent_source.LINK_TASK_STATES,
    ),
    "feldera": (
        feldera_source.DEPLOYMENT_STATUSES,
        feldera_source.DESIRED_STATUSES,
        feldera_source.HEALTH_STATUSES,
        feldera_source.PROGRAM_STATUSES,
        feldera_source.CHECKPOINT_ACTIVITIES,
    ),
    "etlworks": (etlworks_source.STATUSES,),
}


def statuses(system: str) -> list[str]:
    """Every state one system's state sets know, sparse ones included, in their order."""
    names: dict[str, None] = {}
    for states in STATE_SETS[system]:
        names.update(dict.fromkeys(states.values))
        names.update(dict.fromkeys(sorted(states.sparse)))
    return list(names)


def status_colors() -> dict[str, str]:
    """The colour of every state of every system, in the systems' order. Checked when the
    dashboards are built rather than at import, so importing the generator cannot fail."""
    missing = [s for system in STATE_SETS for s in statuses(system) if s not in COLOURS]
    if missing:
        raise SystemExit(f"grafana/colours.py: give these states a colour in COLOURS: {missing}")
    return {s: COLOURS[s] for system in STATE_SETS for s in statuses(system)}


def mapping_values(values: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """A value mapping: each value shown as a text in a colour."""
    return [
        {
            "type": "value",
            "options": {
                key: {"text": text, "color": color, "index": i}
                for i, (key, (text, color)) in enumerate(values.items())
            },
        }
    ]


UP_MAPPING = mapping_values({"1": ("UP", GREEN), "0": ("DOWN", RED)})
YES_NO_BAD = mapping_values({"1": ("yes", RED), "0": ("no", GREEN)})
STALE_MAPPING = mapping_values({"1": ("STALE", RED), "0": ("fresh", GREEN)})
