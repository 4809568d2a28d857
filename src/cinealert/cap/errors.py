"""Why a CAP message was refused.

Every refusal is a :class:`CapError` whose ``reason`` is one operator-readable line (``str(exc) == reason``), so
the daemon can log it and put it on the dead-letter topic as it is. The subclasses say which stage refused::

    CapError
    ├── CapSizeError        empty or over ``cap.max_bytes``
    ├── CapEncodingError    not UTF-8 text (binary, NUL bytes, UTF-16, another declared encoding)
    ├── CapSecurityError    DOCTYPE/entity declarations, excessive nesting or element count
    ├── CapSyntaxError      not well-formed XML (truncated, junk)
    ├── CapStructureError   not a CAP 1.1/1.2 <alert> (other root, wrong or missing namespace)
    ├── CapValidationError  a CAP rule is broken (missing element, bad enumeration, date, polygon...)
    └── CapSignatureError   XML-DSig missing (under ``require``) or invalid
"""

from __future__ import annotations

from cinealert.errors import CinealertError


class CapError(ValueError, CinealertError):
    """A CAP message that cannot be used. ``reason`` is a single line fit for an operator's log."""

    def __init__(self, reason: str) -> None:
        reason = " ".join(str(reason).split()) or "invalid CAP message"
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class CapSizeError(CapError):
    pass


class CapEncodingError(CapError):
    pass


class CapSecurityError(CapError):
    pass


class CapSyntaxError(CapError):
    pass


class CapStructureError(CapError):
    pass


class CapValidationError(CapError):
    pass


class CapSignatureError(CapError):
    pass
