"""The engine's small shared types: refusals, cancellation, results."""

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from apps.core.errors import ApplicationError
from apps.privacy.composition import PrivacyCost


class SynthRefused(ApplicationError):
    """A configuration the engine will not run. Raised before any data is read; names the problem."""

    code = "synth_refused"


class SynthCancelled(Exception):
    """``should_stop()`` said stop: the run ended between two steps. Data may have been read."""


@dataclass(frozen=True)
class SynthesizerInfo:
    name: str
    label: str
    description: str
    privacy_note: str


@dataclass
class SynthResult:
    frame: pd.DataFrame
    spent: PrivacyCost
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProfileResult:
    histograms: dict[str, dict[str, list]]
    spent: PrivacyCost
