"""The DR plan read into its parts, checked against the budgets and the drills, and reviewed."""

__all__: list[str] = []
