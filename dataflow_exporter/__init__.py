"""dataflow-exporter: Prometheus metrics for PeerDB, Feldera, Confluent links and Etlworks."""

__version__ = "0.1.0"
