"""Helpers the tests share: simulators to start, runs to drive, a fake clock, audits."""
