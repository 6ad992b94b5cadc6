"""Object storage for dataset versions, model artifacts and validation reports.

One interface, two backends chosen by the URL scheme of ``RAGDAG_OBJECT_STORE_URL``: ``s3://`` goes
through the Amazon provider's ``S3Hook`` (credentials from ``aws_default``; MinIO or moto by the
connection's ``endpoint_url``), anything else is a folder on local disk laid out the same way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse
from urllib.request import url2pathname

from ragdag.settings import Settings, get_settings


class ObjectStore(Protocol):
    root_uri: str

    def put_bytes(self, key: str, data: bytes) -> str: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list_keys(self, prefix: str = "") -> list[str]: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def uri(self, key: str) -> str: ...


class LocalObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root_uri = root.as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"object key {key!r} escapes the store root")
        return path

    def put_bytes(self, key: str, data: bytes) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half an object
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str = "") -> list[str]:
        if not self.root.exists():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix) and not k.endswith(".tmp"))

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix`` (and folders left empty); how many."""
        if not prefix.strip("/"):
            raise ValueError("refusing to delete the whole object store: give a key prefix")
        keys = self.list_keys(prefix)
        root = self.root.resolve()
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            for parent in path.parents:
                if parent == root or not parent.is_relative_to(root) or any(parent.iterdir()):
                    break
                parent.rmdir()
        return len(keys)

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()


class S3ObjectStore:
    def __init__(self, bucket: str, prefix: str, aws_conn_id: str) -> None:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.hook = S3Hook(aws_conn_id=aws_conn_id)
        self.root_uri = f"s3://{bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_bytes(self, key: str, data: bytes) -> str:
        self.hook.load_bytes(data, key=self._key(key), bucket_name=self.bucket, replace=True)
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        obj = self.hook.get_key(self._key(key), bucket_name=self.bucket)
        return obj.get()["Body"].read()

    def exists(self, key: str) -> bool:
        return bool(self.hook.check_for_key(self._key(key), bucket_name=self.bucket))

    def list_keys(self, prefix: str = "") -> list[str]:
        keys = self.hook.list_keys(bucket_name=self.bucket, prefix=self._key(prefix)) or []
        strip = len(self.prefix) + 1 if self.prefix else 0
        return sorted(k[strip:] for k in keys)

    def delete_prefix(self, prefix: str) -> int:
        if not prefix.strip("/"):
            raise ValueError("refusing to delete the whole object store: give a key prefix")
        keys = self.hook.list_keys(bucket_name=self.bucket, prefix=self._key(prefix)) or []
        for start in range(0, len(keys), 1000):  # DeleteObjects takes up to 1000 keys
            self.hook.delete_objects(bucket=self.bucket, keys=keys[start : start + 1000])
        return len(keys)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def run_folder(run_id: str) -> str:
    """A run id as one folder of object keys, the same for every stage (validation evidence,
    feature staging, drift snapshots): Airflow run ids hold ':' and '+', which S3 tools and URLs
    handle badly."""
    return re.sub(r"[^A-Za-z0-9._=-]", "_", run_id)


def open_object_store(settings: Settings | None = None) -> ObjectStore:
    settings = settings or get_settings()
    parsed = urlparse(settings.object_store_root)
    if parsed.scheme == "s3":
        return S3ObjectStore(parsed.netloc, parsed.path, settings.aws_conn_id)
    if parsed.scheme == "file":
        return LocalObjectStore(Path(url2pathname(parsed.path)))
    raise ValueError(f"RAGDAG_OBJECT_STORE_URL={settings.object_store_url!r}: use s3://bucket/prefix or leave it empty")
