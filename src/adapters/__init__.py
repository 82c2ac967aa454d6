"""Implementations of the ports: filesystem, aiohttp, logging, progress bars."""
