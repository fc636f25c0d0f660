"""The case workflows: the process of DOMAIN.md as code.

``WORKFLOWS`` is loaded on first use (PEP 562): the worker's sandbox re-imports this
package for every workflow it runs, and an encounter must not pay for importing
Criminal Casework's module, nor the other way round. Taking any of them installs
``workflows.activation_order`` (decisions after the events that reached the case
before them: a workaround of the SDK), so every worker and replayer has it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflows.acro_replies import AcroReplyReconciliationWorkflow, ReplyDeliveryWorkflow
    from workflows.casework import CriminalCaseworkWorkflow
    from workflows.encounter import EncounterWorkflow
    from workflows.notification import NotificationWorkflow
    from workflows.reconciliation import NotificationReconciliationWorkflow

    WORKFLOWS: list[type]

__all__ = [
    "WORKFLOWS",
    "AcroReplyReconciliationWorkflow",
    "CriminalCaseworkWorkflow",
    "EncounterWorkflow",
    "NotificationReconciliationWorkflow",
    "NotificationWorkflow",
    "ReplyDeliveryWorkflow",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        # On use only: the sandbox re-imports this package for every run.
        from workflows.activation_order import install

        install()
    if name == "CriminalCaseworkWorkflow":
        # On use only: the sandbox re-imports this package for every run.
        from workflows.casework import CriminalCaseworkWorkflow

        return CriminalCaseworkWorkflow
    if name == "EncounterWorkflow":
        # On use only: the sandbox re-imports this package for every run.
        from workflows.encounter import EncounterWorkflow

        return EncounterWorkflow
    if name == "NotificationWorkflow":
        # On use only: the sandbox re-imports this package for every run.
        from workflows.notification import NotificationWorkflow

        return NotificationWorkflow
    if name == "NotificationReconciliationWorkflow":
        # On use only: the sandbox re-imports this package for every run.
        from workflows.reconciliation import NotificationReconciliationWorkflow

        return NotificationReconciliationWorkflow
    if name in ("AcroReplyReconciliationWorkflow", "ReplyDeliveryWorkflow"):
        # On use only: the sandbox re-imports this package for every run.
        from workflows import acro_replies

        return getattr(acro_replies, name)
    if name == "WORKFLOWS":
        # On use only: the sandbox re-imports this package for every run.
        from workflows.acro_replies import AcroReplyReconciliationWorkflow, ReplyDeliveryWorkflow
        from workflows.casework import CriminalCaseworkWorkflow
        from workflows.encounter import EncounterWorkflow
        from workflows.notification import NotificationWorkflow
        from workflows.reconciliation import NotificationReconciliationWorkflow

        return [
            EncounterWorkflow,
            CriminalCaseworkWorkflow,
            NotificationWorkflow,
            NotificationReconciliationWorkflow,
            # issue 22: the safety net over replies pushed in, and the in-process
            # world's post office (started only where the simulator is the world).
            AcroReplyReconciliationWorkflow,
            ReplyDeliveryWorkflow,
        ]
    raise AttributeError(f"module 'workflows' has no attribute {name!r}")
