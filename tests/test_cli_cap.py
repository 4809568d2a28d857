"""``cinealert validate`` and ``cinealert classify`` as an operator runs them: real subprocesses, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CINEALERT_")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "cinealert.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_cap_and_cli_do_not_import_torch() -> None:
    code = (
        "import cinealert.cli, cinealert.cap, sys\n"
        "from cinealert.cap import parse_alert, classify\n"
        "assert 'torch' not in sys.modules\n"
        "roots = {'torch', 'signxml', 'av', 'diffusers', 'transformers'}\n"
        "banned = [m for m in sys.modules if m.split('.')[0] in roots or m.startswith(('cinealert.render',"
        " 'cinealert.broadcast', 'cinealert.handlers', 'cinealert.daemon'))]\n"
        "assert not banned, banned\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_validate_valid_and_invalid_files() -> None:
    good = SAMPLES / "en_flood.xml"
    bad = SAMPLES / "hostile" / "xxe_file.xml"
    missing = SAMPLES / "does-not-exist.xml"
    result = cli("validate", str(good), str(bad), str(missing))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0] == f"OK {good}"
    assert lines[1].startswith(f"INVALID {bad}: DOCTYPE")
    assert lines[2].startswith(f"INVALID {missing}: cannot read file")
    assert "Traceback" not in result.stderr


def test_validate_all_good_samples_exit_zero_and_profile_warnings() -> None:
    files = [str(SAMPLES / n) for n in ("en_flood.xml", "ko_flood.xml", "bilingual_typhoon.xml")]
    result = cli("validate", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [f"OK {f}" for f in files]
    profiled = cli("validate", "--profile", str(SAMPLES / "ko_flood.xml"))
    assert profiled.returncode == 0
    assert any(line.startswith("WARNING") and "SAME" in line for line in profiled.stdout.splitlines())


@pytest.mark.parametrize(
    "name",
    ["hostile/billion_laughs.xml", "hostile/binary_junk.bin", "hostile/empty.xml", "hostile/truncated.xml"],
)
def test_validate_hostile_gives_one_line(name: str) -> None:
    result = cli("validate", str(SAMPLES / name))
    assert result.returncode == 2
    assert len(result.stdout.splitlines()) == 1 and result.stdout.startswith("INVALID")
    assert result.stderr == ""


def test_validate_oversized_file_respects_config(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    data = (SAMPLES / "en_flood.xml").read_bytes()
    big.write_bytes(
        data.replace(b"<scope>Public</scope>", b"<scope>Public</scope><note>" + b"x" * 5000 + b"</note>")
    )
    config = tmp_path / "c.toml"
    config.write_text("[cap]\nmax_bytes = 4096\n")
    result = cli("validate", "--config", str(config), str(big))
    assert result.returncode == 2 and "cap.max_bytes" in result.stdout
    env = cli("validate", str(big), env_extra={"CINEALERT_CAP__MAX_BYTES": "4096"})
    assert env.returncode == 2 and "4096" in env.stdout
    assert cli("validate", str(big)).returncode == 0


def test_classify_json() -> None:
    result = cli("classify", "--json", str(SAMPLES / "update_flood.xml"))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["disaster"] == "flood"
    assert doc["confidence"] >= 0.9
    assert doc["reason"] == "eventCode SAME matched 'FFS'"
    assert doc["msg_type"] == "Update"
    assert doc["references"] == [
        "w-nws.webmaster@noaa.gov,urn:oid:2.49.0.1.840.0.7f3c2a61b0d94c1e8a5d2f6b9c0e1a23.001.1,"
        "2026-11-25T14:42:00-05:00"
    ]
    assert doc["expired"] is False and doc["expires"].startswith("2030-11-25T20:45:00")


def test_classify_korean_text_output_and_expired_flag() -> None:
    result = cli("classify", str(SAMPLES / "ko_typhoon.xml"))
    assert result.returncode == 0
    assert result.stdout.startswith(f"{SAMPLES / 'ko_typhoon.xml'}: typhoon (")
    assert "태풍" in result.stdout
    expired = json.loads(cli("classify", "--json", str(SAMPLES / "expired_heavy_snow.xml")).stdout)
    assert expired["expired"] is True and expired["disaster"] == "heavy_snow"
    bilingual = json.loads(cli("classify", "--json", str(SAMPLES / "bilingual_typhoon.xml")).stdout)
    assert bilingual["languages"] == ["ko-KR", "en-US"]
    assert set(bilingual["headline"]) == {"ko-KR", "en-US"}


def test_classify_invalid_file() -> None:
    result = cli("classify", str(SAMPLES / "hostile" / "wrong_namespace.xml"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("INVALID") and "namespace" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_refuses_the_p1_cases_with_their_reason(tmp_path: Path) -> None:
    flood = (SAMPLES / "en_flood.xml").read_text(encoding="utf-8")
    early = tmp_path / "expires_before_sent.xml"
    early.write_text(
        flood.replace("2030-11-25T20:45:00-05:00", "2026-11-25T14:41:59-05:00"), encoding="utf-8"
    )
    huge = tmp_path / "huge_size.xml"
    huge.write_text(
        flood.replace(
            "<area>",
            "<resource><resourceDesc>map</resourceDesc><mimeType>image/png</mimeType>"
            f"<size>{'7' * 5000}</size></resource><area>",
        ),
        encoding="utf-8",
    )
    mixed = tmp_path / "mixed.xml"
    mixed.write_text(flood.replace("<info>", '<info xmlns="urn:oasis:names:tc:emergency:cap:1.1">'), "utf-8")
    result = cli("validate", str(early), str(huge), str(mixed))
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        f"INVALID {early}: info[1]/expires: 2026-11-25T14:41:59-05:00 is earlier than <sent>; the alert would "
        "have expired before it was sent (check the sender's clock and time-zone offsets)",
        f"INVALID {huge}: info[1]/resource[1]/size: resource size in bytes '777777777777777777777777…' has 5000 "
        "digits; the largest accepted is 9223372036854775807",
        f"INVALID {mixed}: mixed CAP namespaces: <info> under <alert> is in "
        "'urn:oasis:names:tc:emergency:cap:1.1' (CAP 1.1), but <alert> is CAP 1.2 "
        "(urn:oasis:names:tc:emergency:cap:1.2); send the whole alert in one CAP namespace",
    ]
    assert "internal error" not in result.stdout
    assert result.stderr == ""
