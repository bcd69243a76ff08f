"""Faults, each verified by its observed effect before the drill goes on."""

from chaos.faults.process import FaultNotObservedError, kill_component

__all__ = ["FaultNotObservedError", "kill_component"]
