"""Reliability and security suite (issue 6): faults, load and hostile input, with figures."""
