"""``cinealert validate`` and ``cinealert classify``: CAP only, no torch, no PyAV."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from cinealert.commands import EXIT_INVALID, EXIT_OK, load_settings


def cmd_validate(args: argparse.Namespace) -> int:
    from cinealert.cap import CapError, parse_alert

    settings = load_settings(args)
    status = EXIT_OK
    for path in args.files:
        try:
            alert = parse_alert(_read(path, settings.cap.max_bytes), settings=settings.cap)
        except CapError as exc:
            print(f"INVALID {path}: {exc.reason}")
            status = EXIT_INVALID
            continue
        print(f"OK {path}")
        if args.profile:
            for warning in alert.warnings:
                print(f"WARNING {path}: {warning}")
    return status


def cmd_classify(args: argparse.Namespace) -> int:
    from cinealert.cap import CapError, classify, parse_alert

    settings = load_settings(args)
    try:
        alert = parse_alert(_read(args.file, settings.cap.max_bytes), settings=settings.cap)
    except CapError as exc:
        print(f"INVALID {args.file}: {exc.reason}", file=sys.stderr)
        return EXIT_INVALID
    result = classify(alert)
    now = datetime.now(UTC)
    doc = {
        "identifier": alert.identifier,
        "sender": alert.sender,
        "sent": alert.sent_text,
        "msg_type": alert.msg_type,
        "status": alert.status,
        "disaster": result.disaster.value,
        "confidence": round(result.confidence, 3),
        "reason": result.reason,
        "languages": list(alert.languages),
        "headline": {i.language: i.headline for i in alert.infos if i.headline},
        "expires": alert.expires.isoformat() if alert.expires else None,
        "expired": alert.is_expired(now),
        "references": [str(r.key) for r in alert.references],
        "warnings": list(alert.warnings),
    }
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
    else:
        print(f"{args.file}: {doc['disaster']} ({doc['confidence']}) — {doc['reason']}")
    return EXIT_OK


def _read(path: Path, max_bytes: int) -> bytes:
    """Read at most ``max_bytes + 1`` so an oversized file is rejected without loading it whole."""
    from cinealert.cap import CapError

    try:
        with path.open("rb") as fh:
            return fh.read(max_bytes + 1)
    except OSError as exc:
        raise CapError(f"cannot read file: {exc.strerror or exc}") from None
