"""Storage: S3 on AWS, a local folder in local mode. Keys are relative to the run's root."""

import shutil
from pathlib import Path


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

    def read_folder(self, key: str) -> dict[str, bytes]:
        folder = self.root / key
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
