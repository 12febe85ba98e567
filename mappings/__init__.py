"""Declarative CRM mappings: which property each survey result is written to."""

from mappings.loader import CrmMapping, MappedProperty, load_mapping

__all__ = ["CrmMapping", "MappedProperty", "load_mapping"]
