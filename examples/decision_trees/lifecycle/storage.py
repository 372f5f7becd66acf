"""Storage: S3 on AWS, a local folder in local mode. Keys are relative to the run's root."""

import shutil
from pathlib import Path
from urllib.parse import urlparse


def split_s3_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key)."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri}")
    return parsed.netloc, parsed.path.lstrip("/")


class S3Storage:
    def __init__(self, s3, bucket: str, prefix: str):
        self.s3, self.bucket, self.prefix = s3, bucket, prefix.strip("/")

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}/{key}"

    def upload(self, path: Path, key: str) -> str:
        self.s3.upload_file(str(path), self.bucket, f"{self.prefix}/{key}")
        return self.uri(key)

    def folder_uri(self, key: str) -> str:
        return self.uri(key).rstrip("/") + "/"

    def copy(self, source_uri: str, key: str) -> str:
        """Copies an S3 object (e.g. the training job's model.tar.gz) to a key of this run."""
        bucket, source_key = split_s3_uri(source_uri)
        self.s3.copy({"Bucket": bucket, "Key": source_key}, self.bucket, f"{self.prefix}/{key}")
        return self.uri(key)

    def read_uri(self, uri: str) -> bytes | None:
        """The object at an s3:// URI (anywhere, e.g. where an async endpoint wrote), None if absent."""
        bucket, key = split_s3_uri(uri)
        try:
            return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None

    def read_folder(self, key: str) -> dict[str, bytes]:
        prefix = f"{self.prefix}/{key.strip('/')}/"
        found = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                body = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                found[item["Key"][len(prefix) :]] = body
        return found


class LocalStorage:
    def __init__(self, root: Path):
        self.root = root

    def uri(self, key: str) -> str:
        return f"file://{self.root / key}"  # no percent-encoding: local mode reads the path as is

    def upload(self, path: Path, key: str) -> str:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        return self.uri(key)

    def folder_uri(self, key: str) -> str:
        (self.root / key).mkdir(parents=True, exist_ok=True)
        return self.uri(key)

    def read_uri(self, uri: str) -> bytes | None:
        """A file:// object's bytes, or None while it does not exist (an async answer not yet written)."""
        path = Path(uri.removeprefix("file://"))
        return path.read_bytes() if path.is_file() else None

    def read_folder(self, key: str) -> dict[str, bytes]:
        folder = self.root / key
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
