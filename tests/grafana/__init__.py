"""Tests of the dashboard generator (grafana/)."""
