"""Faults, each verified by its observed effect before the drill goes on, and always reverted."""

from chaos.errors import FaultNotObservedError
from chaos.faults.base import FAULT_KINDS, Fault, fault_from_spec
from chaos.faults.corruption import DiskCorruption, MongoCorruption, RedisCorruption
from chaos.faults.isolation import Disconnect, Pause
from chaos.faults.ledger import Ledger, LedgerEntry
from chaos.faults.network import Partition, Toxic
from chaos.faults.pods import PodDelete
from chaos.faults.process import BlastRadius, Kill, SystemFailure
from chaos.faults.release import BadRelease

__all__ = [
    "FAULT_KINDS",
    "BadRelease",
    "BlastRadius",
    "Disconnect",
    "DiskCorruption",
    "Fault",
    "FaultNotObservedError",
    "Kill",
    "Ledger",
    "LedgerEntry",
    "MongoCorruption",
    "Partition",
    "Pause",
    "PodDelete",
    "RedisCorruption",
    "SystemFailure",
    "Toxic",
    "fault_from_spec",
]
