"""Declarative CRM mappings: which property each survey result is written to, which hooks fire."""

from closedloop.mappings.hooks import Hooks
from closedloop.mappings.loader import load_mapping
from closedloop.mappings.mapping import CrmMapping, MappedProperty

__all__ = ["CrmMapping", "Hooks", "MappedProperty", "load_mapping"]
