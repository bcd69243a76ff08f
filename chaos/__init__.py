"""Executable disaster-recovery drills: inject real faults, run the plan's recovery, measure RTO and data loss."""

__all__: list[str] = []
