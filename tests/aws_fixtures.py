"""A real S3 / SageMaker HTTP API on localhost (moto's server), reached through aws_default."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragdag.local_ports import free_port, port_open


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        if port_open(port):
            break
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("moto_server did not start")
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def aws_s3_settings(settings, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    """Settings whose object store is a bucket on the moto server, through aws_default."""
    import boto3

    from ragdag.settings import get_settings

    bucket = f"ragdag-{settings.mongo_database.replace('_', '-')}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "extra": {"region_name": "us-east-1", "endpoint_url": moto_endpoint},
            }
        ),
    )
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    monkeypatch.setenv("RAGDAG_OBJECT_STORE_URL", f"s3://{bucket}/platform")
    get_settings.cache_clear()
    return get_settings()
