#!/usr/bin/env python3
"""Seed the benchmark's Azure container: COUNT blobs of log-normal size (mean MEAN bytes).

Why log-normal: real object stores hold mostly small objects with a long tail, and a
benchmark of equal sizes would hide per-object costs (TLS, round trips) behind the mean.
Sizes and names come from a seeded generator, so every run copies the same data; bodies
are random bytes (incompressible, like photos). Uses Microsoft's azure-storage-blob SDK.
Prints the count and the total, mean and median sizes.
"""
import argparse
import math
import os
import random
import sys
from concurrent.futures import ThreadPoolExecutor

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContentSettings

FIRSTS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--container", required=True)
    parser.add_argument("--mean", type=int, default=33 * 1024, help="mean size in bytes")
    parser.add_argument("--sigma", type=float, default=1.0, help="log-normal shape")
    parser.add_argument("--max-size", type=int, default=4 << 20, help="sizes are capped here")
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if not connection_string:
        print("bench_seed.py: AZURE_STORAGE_CONNECTION_STRING is not set", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    # mean = exp(mu + sigma^2 / 2)
    mu = math.log(args.mean) - args.sigma**2 / 2
    sizes = [max(1, min(args.max_size, int(rng.lognormvariate(mu, args.sigma)))) for _ in range(args.count)]
    names = [f"{FIRSTS[i % len(FIRSTS)]}{i // len(FIRSTS):04d}/obj-{i:06d}.bin" for i in range(args.count)]

    container = BlobServiceClient.from_connection_string(connection_string).get_container_client(args.container)
    try:
        container.create_container()
    except ResourceExistsError:
        pass

    def upload(item):
        name, size = item
        container.upload_blob(
            name, os.urandom(size), overwrite=True,
            content_settings=ContentSettings(content_type="application/octet-stream"))

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(upload, zip(names, sizes)))
    ordered = sorted(sizes)
    print(f"seeded {len(sizes)} blobs into {args.container}: {sum(sizes) / 1e6:.1f} MB,"
          f" mean {sum(sizes) / len(sizes) / 1024:.1f} KiB, median {ordered[len(ordered) // 2] / 1024:.1f} KiB,"
          f" largest {ordered[-1] / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
