"""CAP 1.1/1.2: hardened parsing, validation, the Alert model and disaster classification.

``parse_alert(data, settings=...) -> Alert`` raises :class:`CapError` (one-line ``reason``) for anything unusable;
``classify(alert) -> Classification``. Only lxml is imported here; signxml loads when a signature is checked, and
nothing in this package imports torch, render, broadcast or handlers.
"""

from cinealert.cap.classify import classify
from cinealert.cap.errors import (
    CapEncodingError,
    CapError,
    CapSecurityError,
    CapSignatureError,
    CapSizeError,
    CapStructureError,
    CapSyntaxError,
    CapValidationError,
)
from cinealert.cap.model import (
    Alert,
    AlertKey,
    Area,
    Circle,
    Classification,
    DisasterType,
    Info,
    Reference,
    Resource,
)
from cinealert.cap.parse import CapInternalError, parse_alert

__all__ = [
    "Alert",
    "AlertKey",
    "Area",
    "CapEncodingError",
    "CapError",
    "CapInternalError",
    "CapSecurityError",
    "CapSignatureError",
    "CapSizeError",
    "CapStructureError",
    "CapSyntaxError",
    "CapValidationError",
    "Circle",
    "Classification",
    "DisasterType",
    "Info",
    "Reference",
    "Resource",
    "classify",
    "parse_alert",
]
