#!/usr/bin/env python3
"""Seed an Azure container (the emulator, Azurite or the real thing) with test blobs.

Uses Microsoft's azure-storage-blob SDK, so seeding also proves the emulator speaks the
real protocol. Names cover every partition plus awkward ones (spaces, +, %, ?, #,
unicode, emoji, odd first characters); bodies are derived from the names.
"""
import argparse
import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContentSettings

AWKWARD = [
    "space in name.txt", " leading space", "plus+sign", "percent%20literal", "question?mark",
    "hash#tag", "amp&ersand", "tilde~", "~tilde-first", "_underscore-first", "-dash-first",
    ".dot-first", "unicode/ünïcødé/ß", "emoji/😀🚀", "日本語/ファイル",
]
FIRSTS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~ é"


def body(name: str, size: int) -> bytes:
    block = hashlib.sha256(name.encode()).digest()
    out = bytearray()
    while len(out) < size:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:size])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--container", required=True)
    parser.add_argument("--max-size", type=int, default=64 * 1024)
    parser.add_argument("--prefix", default="")
    args = parser.parse_args()
    connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if not connection_string:
        print("seed_azure.py: AZURE_STORAGE_CONNECTION_STRING is not set", file=sys.stderr)
        return 2
    container = BlobServiceClient.from_connection_string(connection_string).get_container_client(args.container)
    try:
        container.create_container()
    except ResourceExistsError:
        pass
    names = [f"{args.prefix}{FIRSTS[i % len(FIRSTS)]}{i // len(FIRSTS)}/blob-{i}.dat" for i in range(args.count)]
    names += [args.prefix + name for name in AWKWARD]

    def upload(item):
        index, name = item
        size = int(hashlib.md5(name.encode()).hexdigest()[:8], 16) % args.max_size
        container.upload_blob(
            name, body(name, size), overwrite=True, metadata={"seeded": "true", "index": str(index)},
            content_settings=ContentSettings(content_type="application/octet-stream"))

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(upload, enumerate(names)))
    print(f"seeded {len(names)} blobs into container {args.container}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
