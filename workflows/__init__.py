"""The case workflows: the process of DOMAIN.md as code."""

from workflows.casework import CriminalCaseworkWorkflow
from workflows.encounter import EncounterWorkflow

WORKFLOWS = [EncounterWorkflow, CriminalCaseworkWorkflow]

__all__ = ["WORKFLOWS", "CriminalCaseworkWorkflow", "EncounterWorkflow"]
