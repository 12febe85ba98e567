"""The 'erase' write-back rows `closedloop forget` queues, as the adapter's Erasure items.

A row names only record ids (the survey's ticket, the CRM ids of its follow-ups); what to
blank on the ticket comes from the mapping at write time, so a property added to the
mapping since is blanked too; the follow-up's CRM id is read again then too. The row's own
id is the item's key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from closedloop.daemon.store import WriteBackRecord
from closedloop.integration.base import Erasure
from closedloop.mappings import CrmMapping


def plan_erasures(rows: Sequence[WriteBackRecord], mapping: CrmMapping,
                  follow_ups: Mapping[int, str]) -> list[Erasure]:
    """One Erasure per 'erase' row, in the order the rows were recorded; `follow_ups` (send
    id -> CRM id, read now) adds a follow-up created after the forget queued the row."""
    blank = dict.fromkeys(mapping.ticket_property_names(), "")
    items = []
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        ticket = row.data.get("ticket_id")
        fresh = follow_ups.get(row.send_id) if row.send_id is not None else None
        items.append(Erasure(
            key=str(row.id), ticket_id=str(ticket) if ticket else None,
            follow_up_ids=tuple(dict.fromkeys(
                [*(str(i) for i in row.data.get("follow_ups") or ()),
                 *([fresh] if fresh else [])])),
            ticket_properties=blank if ticket else {}))
    return items
