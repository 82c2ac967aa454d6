"""Requests, policies and errors: standard library and ports only."""
