"""Governance as code: one YAML file describes domains, their backends (by reference), products,
dataset-wide budgets and policies. ``plan`` shows what applying it would change, ``apply`` makes
those changes, ``export`` writes the current state in the same format. docs/governance.md is the
reference of the format.

- Every change goes through the services the UI and the API use, so rights, validation and audit
  rows are the same; nothing is written when nothing differs, so applying twice changes nothing.
- The whole file is checked first (structure, types, amounts, references), and every problem is
  reported with its line; then ``apply`` runs all changes in one transaction: if a service refuses
  one, nothing is applied. ``plan`` runs the same changes in a transaction it rolls back, so it
  reports exactly what ``apply`` would do, refusals included.
- A key left out of an entry is not managed: its field keeps its value (a new object gets the
  default). Objects the file does not name are left alone, except the policies on the domains it
  lists, which ``--prune`` revokes.
"""

from apps.privacy.governance.apply import (
    Change,
    Outcome,
    format_outcome,
    governance_actor,
    governance_apply,
    governance_plan,
)
from apps.privacy.governance.domains import domain_create, domain_owners_set
from apps.privacy.governance.export import governance_export
from apps.privacy.governance.spec import GovernanceError, Problem, Spec, parse_governance

__all__ = [
    "Change",
    "GovernanceError",
    "Outcome",
    "Problem",
    "Spec",
    "domain_create",
    "domain_owners_set",
    "format_outcome",
    "governance_actor",
    "governance_apply",
    "governance_export",
    "governance_plan",
    "parse_governance",
]
