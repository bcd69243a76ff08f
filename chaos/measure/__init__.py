"""Observe a drill from the outside: probes, tracked writes, and what they add up to."""

__all__: list[str] = []
