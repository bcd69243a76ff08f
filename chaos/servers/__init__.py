"""How to launch the real servers a drill runs against, and wait for them."""

__all__: list[str] = []
