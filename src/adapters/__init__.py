"""Implementations of the ports: filesystem, aiohttp, structlog."""
