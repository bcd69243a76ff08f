"""The plan's recovery procedures as code: the same functions for drills and for operators."""

__all__: list[str] = []
