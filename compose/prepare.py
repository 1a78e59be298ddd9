"""One-shot `setup` service of compose/docker-compose.yml.

Creates the source container and the destination bucket when they are missing, then
(only against a local emulator, unless --force) uploads a few demo blobs whose names start
with letters, digits and other characters, so the producer's catch-all lister has work too.
Reads the same environment as blobferry: AZURE_STORAGE_CONNECTION_STRING (or
AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, and
BLOBFERRY_SOURCE_ENDPOINT), BLOBFERRY_SOURCE_CONTAINER, AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, BLOBFERRY_DEST_BUCKET.

Needs: pip install azure-storage-blob boto3
"""

import argparse
import hashlib
import os
import sys
import time
from urllib.parse import urlparse

LOCAL_HOSTS = {"azurite", "localhost", "127.0.0.1", "s3", "seaweedfs", "minio"}


def env(name, required=True):
    value = os.environ.get(name, "")
    if required and not value:
        sys.exit(f"setup: {name} is not set")
    return value


def retry(what, action, attempts=30):
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as error:  # the services may still be starting
            if attempt == attempts:
                sys.exit(f"setup: {what} failed: {error}")
            time.sleep(2)


def blob_endpoint_host(connection_string):
    for part in connection_string.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "blobendpoint":
            return urlparse(value.strip()).hostname or ""
    return ""


def demo_names(count):
    # Every first-character class the producer must cover: the 62 one-character prefixes
    # and a few that only the catch-all lister sees.
    firsts = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    firsts += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    firsts += [str(d) for d in range(10)]
    firsts += ["_", "-", ".", "~", "é"]
    return [f"{firsts[i % len(firsts)]}demo/{i:06d}.bin" for i in range(count)]


def demo_bytes(index):
    size = 256 + (index * 7919) % (64 * 1024)
    seed = hashlib.sha256(str(index).encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def prepare_source(args):
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    connection_string = env("AZURE_STORAGE_CONNECTION_STRING", required=False)
    container_name = env("BLOBFERRY_SOURCE_CONTAINER")
    if connection_string:
        service = BlobServiceClient.from_connection_string(connection_string)
        host = blob_endpoint_host(connection_string)
    else:  # an account with a key or a SAS token, as blobferry accepts
        account = env("AZURE_STORAGE_ACCOUNT")
        endpoint = env("BLOBFERRY_SOURCE_ENDPOINT", required=False) or f"https://{account}.blob.core.windows.net"
        key = env("AZURE_STORAGE_KEY", required=False)
        credential = {"account_name": account, "account_key": key} if key else env("AZURE_STORAGE_SAS_TOKEN")
        service = BlobServiceClient(account_url=endpoint, credential=credential)
        host = urlparse(endpoint).hostname or ""
    container = service.get_container_client(container_name)

    def create():
        try:
            container.create_container()
            print(f"setup: created container {container_name}")
        except ResourceExistsError:
            print(f"setup: container {container_name} exists")

    retry("creating the Azure container", create)

    if args.demo_blobs <= 0:
        return
    if host not in LOCAL_HOSTS and not args.force:
        print(f"setup: not uploading demo blobs to {host or 'Azure'} (not an emulator; --force to do it)")
        return
    for index, name in enumerate(demo_names(args.demo_blobs)):
        container.upload_blob(name, demo_bytes(index), overwrite=True)
    print(f"setup: {args.demo_blobs} demo blobs in {container_name}")


def prepare_destination():
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or None
    region = os.environ.get("AWS_REGION") or "us-east-1"
    bucket = env("BLOBFERRY_DEST_BUCKET")
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        config=Config(s3={"addressing_style": "path" if endpoint else "auto"}),
    )

    def create():
        try:
            s3.head_bucket(Bucket=bucket)
            print(f"setup: bucket {bucket} exists")
            return
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
        options = {"Bucket": bucket}
        if region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**options)
        print(f"setup: created bucket {bucket}")

    retry("creating the S3 bucket", create)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-blobs", type=int, default=0, help="demo blobs to upload (0: none)")
    parser.add_argument("--force", action="store_true", help="upload demo blobs to a real account too")
    args = parser.parse_args()
    prepare_destination()
    prepare_source(args)


if __name__ == "__main__":
    main()
