"""The alert thresholds the status page and `/api/v1/status` use to call an entity broken.

They are the defaults of the one alerts config, `alerts/config.yml` (which the installed
package does not carry), so an entity listed as "broken now" is one its alert would page for
once the rule's `for:` has passed; `tests/test_thresholds.py` checks they agree. Thresholds
tuned through the Helm chart's `prometheusRule.config` change the rules, not these.
"""

from __future__ import annotations

# PeerDBMirrorNoRecentBatch: a running mirror whose newest completed CDC batch is older.
PEERDB_BATCH_AGE_SECONDS = 3600.0
# PeerDBSlotLagHigh: replication slot lag (5 GiB).
PEERDB_SLOT_LAG_BYTES = 5368709120.0
# ConfluentMirrorLagHigh: an ACTIVE mirror topic further behind its source than this.
CONFLUENT_MIRROR_LAG_MESSAGES = 100000.0
# ConfluentMirrorTopicStuckPending (its `for:`): Confluent reports when the state began.
CONFLUENT_PENDING_SECONDS = 1800.0
# EtlworksFlowRunningTooLong: an execution running or queued for longer.
ETLWORKS_RUNNING_SECONDS = 7200.0
# PeerDBMirrorErroring: a running mirror whose newest logged error is at most this old.
PEERDB_MIRROR_ERROR_SECONDS = 900.0
# PeerDBSlotSafeWalSizeLow: WAL left before the slot is lost (1 GiB).
PEERDB_SLOT_SAFE_WAL_BYTES = 1073741824.0
