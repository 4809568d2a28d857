"""A real S3 API server for tests: ``moto_server`` (installed with the dev extra) on 127.0.0.1, one per module.

It honours conditional writes (``If-None-Match: *``, ``If-Match``) on PutObject and DeleteObject, which the
shared store (``cinealert.objstore``) and the lease guards (``handlers/leases.py``) rely on."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cinealert.config.sections import StoreSettings
from cinealert.daemon.broker import free_port


class S3Server:
    def __init__(self, log: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        binary = Path(sys.executable).with_name("moto_server")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(self.port)], stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log.read_text()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("moto_server did not start in 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def settings(self, bucket: str, **extra: Any) -> StoreSettings:
        return StoreSettings.model_validate({
            "kind": "s3", "endpoint_url": self.endpoint, "bucket": bucket, "prefix": "test/",
            "access_key_id": "test", "secret_access_key": "test", **extra,
        })  # fmt: skip

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="test",
                            aws_secret_access_key="test", region_name="us-east-1")  # fmt: skip

    def new_bucket(self) -> str:
        name = f"b-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="module", name="s3")
def s3_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("moto") / "moto.log").start()
    try:
        yield server
    finally:
        server.stop()
