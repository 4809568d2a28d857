"""``cinealert validate``, ``classify`` and ``route``: CAP only, no torch, no PyAV."""

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
    from cinealert.cap.coverage import Coverage

    settings = load_settings(args)
    coverage = Coverage.from_settings(settings.coverage)
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
        "coverage": coverage.route(alert).as_dict(),
    }
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
    else:
        print(f"{args.file}: {doc['disaster']} ({doc['confidence']}) — {doc['reason']}")
    return EXIT_OK


def cmd_route(args: argparse.Namespace) -> int:
    """Would this alert air here, on which channels, and why: the daemon's own policy (status, msgType, expiry,
    each channel's coverage, and ``handlers.other_policy``), so an operator can check ``[coverage]`` or
    ``[channels.<name>.coverage]`` against real alerts before going live."""
    from cinealert.cap import CapError, classify, parse_alert
    from cinealert.cap.coverage import Coverage
    from cinealert.handlers.policy import decide_channels, render_decision

    settings = load_settings(args)
    channels = settings.channel_list()
    coverages = [(ch.name, Coverage.from_settings(ch.coverage)) for ch in channels]
    try:
        alert = parse_alert(_read(args.file, settings.cap.max_bytes), settings=settings.cap)
    except CapError as exc:
        print(f"INVALID {args.file}: {exc.reason}", file=sys.stderr)
        return EXIT_INVALID
    decision, takes = decide_channels(alert, settings.handlers, datetime.now(UTC), coverages)
    verdicts = [cov.route(alert) for _name, cov in coverages]
    verdict = decision.verdict or verdicts[0]
    action, reason, detail = decision.action, decision.reason, decision.detail or verdict.detail
    if action in ("publish", "update"):
        skip = render_decision(classify(alert), settings.handlers)
        if skip is not None:
            action, reason, detail = (
                "skip",
                skip.reason,
                "handlers.other_policy skips alerts classified other",
            )
            takes = []
    elif action == "cancel":
        detail = "a Cancel withdraws what it references; coverage does not apply to it"
    elif not detail:
        detail = f"handlers policy: {reason}"
    airs = action in ("publish", "update")
    per_channel = [
        {
            "channel": ch.name,
            "airs": airs and i in takes,
            "reason": v.reason,
            "detail": v.detail,
            "output_dir": str(ch.broadcast.output_dir),
            "coverage": v.as_dict(),
        }
        for i, (ch, v) in enumerate(zip(channels, verdicts, strict=True))
    ]
    doc = {
        "file": str(args.file),
        "identifier": alert.identifier,
        "sender": alert.sender,
        "msg_type": alert.msg_type,
        "status": alert.status,
        "airs": airs,
        "action": action,
        "reason": reason or verdict.reason,
        "detail": detail,
        "coverage": verdict.as_dict(),
        "channels": per_channel,
    }
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
        return EXIT_OK
    word = "AIRS" if airs else ("CANCEL" if action == "cancel" else "SKIP")
    if len(channels) == 1:
        print(f"{word} {args.file}: {doc['reason']} — {detail}")
        for line in verdict.matched:
            print(f"  matched: {line}")
        for line in verdict.unmatched:
            print(f"  not matched: {line}")
        return EXIT_OK
    names = ", ".join(str(c["channel"]) for c in per_channel if c["airs"])
    print(f"{word} {args.file}: {doc['reason']}" + (f" on {names}" if names else f" — {detail}"))
    for entry, v in zip(per_channel, verdicts, strict=True):
        mark = "AIRS" if entry["airs"] else ("CANCEL" if action == "cancel" else "SKIP")
        print(f"  channel {entry['channel']}: {mark} {v.reason} — {v.detail}".rstrip(" —"))
        for line in v.matched:
            print(f"    matched: {line}")
        for line in v.unmatched:
            print(f"    not matched: {line}")
    return EXIT_OK


def _read(path: Path, max_bytes: int) -> bytes:
    """Read at most ``max_bytes + 1`` so an oversized file is rejected without loading it whole."""
    from cinealert.cap import CapError

    try:
        with path.open("rb") as fh:
            return fh.read(max_bytes + 1)
    except OSError as exc:
        raise CapError(f"cannot read file: {exc.strerror or exc}") from None
