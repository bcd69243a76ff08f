"""Faults, each verified by its observed effect before the drill goes on."""

from chaos.errors import FaultNotObservedError
from chaos.faults.process import kill_component

__all__ = ["FaultNotObservedError", "kill_component"]
