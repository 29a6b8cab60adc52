"""The durable store: ``open_store(url)`` returns a ``Store`` (see ``base`` for the contract)."""

from agi_scripts.storage.base import (CASE_STATUSES, INCIDENT_DIMENSIONS, AgentCompliments, AgentPause, Call,
                                      CallerErasure, CallerRecords, Case, CaseEvent, CaseStatus, CaseToOpen,
                                      Compliment, Escalation, EscalationBooked, Incident, IncidentCount,
                                      IncidentDimension, NotFound, PauseToBook, PendingErasure, SchemaTooNew, Store,
                                      StoreError, UnsupportedStoreUrl)
from agi_scripts.storage.open import open_store

__all__ = [
    "CASE_STATUSES", "INCIDENT_DIMENSIONS", "AgentCompliments", "AgentPause", "Call", "CallerErasure", "CallerRecords", "Case", "CaseEvent",
    "CaseStatus", "CaseToOpen", "Compliment", "Escalation", "EscalationBooked", "Incident", "IncidentCount",
    "IncidentDimension", "NotFound", "PauseToBook", "PendingErasure", "SchemaTooNew", "Store", "StoreError", "UnsupportedStoreUrl", "open_store",
]
