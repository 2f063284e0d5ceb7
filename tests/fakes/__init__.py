"""In-memory stand-ins for the ports of `chalicelib` (storage first), for unit tests without AWS."""
