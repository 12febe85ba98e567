"""Declarative CRM mappings: which property each survey result is written to, which hooks fire."""

from mappings.hooks import Hooks
from mappings.loader import load_mapping
from mappings.mapping import CrmMapping, MappedProperty

__all__ = ["CrmMapping", "Hooks", "MappedProperty", "load_mapping"]
