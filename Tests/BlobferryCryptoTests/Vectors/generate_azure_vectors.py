#!/usr/bin/env python3
"""Writes azure_vectors.json: Shared Key signatures and SAS tokens made by azure-storage-blob.

BlobferryCryptoTests feeds the same inputs to AzureSharedKeySigner and AzureSAS and compares
the Authorization value / token exactly. Run by hand (pip install azure-storage-blob) after
changing the request set below, and commit the JSON; CI only reads the JSON.

sharedKey vectors: inputs are AzureSharedKeySigner.authorization's arguments (method,
encodedPath as sent, raw query pairs, headers) plus account and base64 key; the SDK's
SharedKeyCredentialPolicy signs the equivalent azure-core HttpRequest. expected holds the
Authorization value and the string-to-sign the policy built (for readable failures).

sas vectors: inputs are AzureSAS.serviceSAS / accountSAS arguments (dates as Unix seconds);
expected is the token from generate_blob_sas / generate_container_sas / generate_account_sas
(default version) or from the SDK's SAS classes with another x_ms_version.
"""

import base64
import datetime
import json
import os
from urllib.parse import quote

import azure.storage.blob
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.transport import HttpRequest
from azure.storage.blob import generate_account_sas, generate_blob_sas, generate_container_sas
from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy
from azure.storage.blob._shared.constants import X_MS_VERSION
from azure.storage.blob._shared.shared_access_signature import SharedAccessSignature
from azure.storage.blob._shared_access_signature import BlobSharedAccessSignature

ACCOUNT = "blobferrytest"
KEY = base64.b64encode(bytes(range(7, 71))).decode()  # 64 bytes, like a real account key
# The public, well-known Azurite/Storage Emulator account and key.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DATE = "Sat, 14 Mar 2026 15:09:26 GMT"
START = datetime.datetime(2026, 3, 14, 15, 9, 26, tzinfo=datetime.timezone.utc)
EXPIRY = datetime.datetime(2026, 3, 21, 15, 9, 26, tzinfo=datetime.timezone.utc)
MD5 = "XrY7u+Ae7tCTyyK7j1rNww=="


class DocsRangePolicy(SharedKeyCredentialPolicy):
    """The SDK's policy with the Range slot filled from the Range header, as the Shared Key
    documentation (and Azurite) define it; the SDK itself sends x-ms-range instead, so its
    own header list names a "byte_range" header that never exists."""

    @staticmethod
    def _get_headers(request, headers_to_sign):
        names = ["range" if n == "byte_range" else n for n in headers_to_sign]
        return SharedKeyCredentialPolicy._get_headers(request, names)


def shared_key(name, method, path, query=(), headers=(), account=ACCOUNT, key=KEY,
               base=None, policy_class=SharedKeyCredentialPolicy, note=None):
    base = base or f"https://{account}.blob.core.windows.net"
    url = base + path
    if query:
        url += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
    all_headers = [("x-ms-date", DATE), ("x-ms-version", X_MS_VERSION)] + list(headers)
    request = HttpRequest(method, url, headers=dict(all_headers))
    policy = policy_class(account, key)
    captured = {}
    add = policy._add_authorization_header

    def capture(req, string_to_sign):
        captured["stringToSign"] = string_to_sign
        add(req, string_to_sign)

    policy._add_authorization_header = capture
    policy.on_request(PipelineRequest(request, PipelineContext(None)))
    vector = {
        "name": name,
        "input": {
            "account": account, "key": key, "method": method, "encodedPath": path,
            "query": [[k, v] for k, v in query], "headers": [[k, v] for k, v in all_headers],
        },
        "expected": {"authorization": request.headers["Authorization"],
                     "stringToSign": captured["stringToSign"]},
    }
    if note:
        vector["note"] = note
    return vector


def shared_key_vectors():
    awkward = "dir one/caf\u00e9 + na\u00efve?#&=~%.txt"
    emoji = "\U0001F600/\U0001F4E6 box.bin"
    long_name = "deep/" * 120 + "\u00e9" * 200 + ".dat"
    return [
        shared_key("GET blob", "GET", "/source/photos/img_0001.jpg"),
        shared_key("GET blob with x-ms-range", "GET", "/source/big.bin",
                   headers=[("x-ms-range", "bytes=0-1048575"), ("x-ms-client-request-id", "c0ffee")]),
        shared_key("HEAD blob", "HEAD", "/source/photos/img_0001.jpg"),
        shared_key("GET awkward name percent-encoded", "GET", "/source/" + quote(awkward, safe="/")),
        shared_key("GET emoji name", "GET", "/source/" + quote(emoji, safe="/")),
        shared_key("GET 1000+ byte name", "GET", "/source/" + quote(long_name, safe="/")),
        shared_key("List blobs first page", "GET", "/source",
                   query=[("restype", "container"), ("comp", "list"), ("maxresults", "5000")]),
        shared_key("List blobs with prefix and marker", "GET", "/source",
                   query=[("restype", "container"), ("comp", "list"), ("prefix", "caf\u00e9 a+b/%20"),
                          ("marker", "2!120!MDAwMDY1IWRpciBvbmUvY2Fmw6kgKyBuYcOvdmU/IyY9fiUudHh0!"),
                          ("include", "metadata"), ("maxresults", "5000")]),
        shared_key("List containers at account root", "GET", "/", query=[("comp", "list")]),
        shared_key("PUT block blob with Content-MD5 and metadata", "PUT", "/dest/" + quote(awkward, safe="/"),
                   headers=[("Content-Length", "11"), ("Content-MD5", MD5), ("Content-Type", "text/plain"),
                            ("x-ms-blob-type", "BlockBlob"), ("x-ms-meta-source", "s3://bucket/key"),
                            ("x-ms-meta-Owner", "Alice  Smith "), ("x-ms-blob-content-md5", MD5)]),
        shared_key("PUT empty blob Content-Length 0", "PUT", "/dest/empty",
                   headers=[("Content-Length", "0"), ("x-ms-blob-type", "BlockBlob")]),
        shared_key("PUT container", "PUT", "/newcontainer", query=[("restype", "container")],
                   headers=[("Content-Length", "0")]),
        shared_key("Header collation: hyphen, underscore, digits", "PUT", "/dest/meta",
                   headers=[("Content-Length", "3"), ("x-ms-meta-ab", "1"), ("x-ms-meta-a-c", "2"),
                            ("x-ms-meta-a_b", "3"), ("x-ms-meta-a1", "4"), ("x-ms-meta-aa", "5"),
                            ("x-ms-blob-type", "BlockBlob"), ("x-ms-blob-content-type", "x/y"),
                            ("x-ms-meta-z", "6")]),
        shared_key("Conditional GET headers", "GET", "/source/etagged",
                   headers=[("If-Match", "\"0x8D0\""), ("If-Modified-Since", "Fri, 13 Mar 2026 00:00:00 GMT"),
                            ("If-None-Match", "*"), ("If-Unmodified-Since", "Sun, 15 Mar 2026 00:00:00 GMT"),
                            ("Content-Encoding", "gzip"), ("Content-Language", "en")]),
        shared_key("DELETE blob with snapshot query", "DELETE", "/source/old.txt",
                   query=[("snapshot", "2026-03-14T15:09:26.1234567Z")]),
        shared_key("Emulator path-style GET", "GET", "/devstoreaccount1/container/blob",
                   account=DEV_ACCOUNT, key=DEV_KEY, base="http://127.0.0.1:10000"),
        shared_key("Emulator path-style list", "GET", "/devstoreaccount1/container",
                   query=[("restype", "container"), ("comp", "list"), ("prefix", "a b")],
                   account=DEV_ACCOUNT, key=DEV_KEY, base="http://127.0.0.1:10000"),
        shared_key("Emulator path-style PUT awkward name", "PUT",
                   "/devstoreaccount1/container/" + quote(awkward, safe="/"),
                   headers=[("Content-Length", "11"), ("Content-MD5", MD5), ("x-ms-blob-type", "BlockBlob")],
                   account=DEV_ACCOUNT, key=DEV_KEY, base="http://127.0.0.1:10000"),
        shared_key("GET with Range header (documented slot)", "GET", "/source/big.bin",
                   headers=[("Range", "bytes=0-99")], policy_class=DocsRangePolicy,
                   note="Range slot per the Shared Key docs; the SDK sends x-ms-range and leaves it empty"),
    ]


def stamp(value):
    return int(value.timestamp()) if value else None


def service_sas(name, container, blob, permission, start, expiry, protocol, version=None, account=ACCOUNT,
                key=KEY):
    if version is None:
        version = X_MS_VERSION
        common = dict(account_key=key, permission=permission, expiry=expiry, start=start, protocol=protocol)
        if blob is None:
            token = generate_container_sas(account, container, **common)
        else:
            token = generate_blob_sas(account, container, blob, **common)
    else:
        signer = BlobSharedAccessSignature(account, account_key=key)
        signer.x_ms_version = version
        common = dict(permission=permission, expiry=expiry, start=start, protocol=protocol)
        if blob is None:
            token = signer.generate_container(container, **common)
        else:
            token = signer.generate_blob(container, blob, **common)
    return {
        "name": name, "kind": "service",
        "input": {"account": account, "key": key, "container": container, "blob": blob,
                  "permissions": permission, "start": stamp(start), "expiry": stamp(expiry),
                  "version": version, "protocols": protocol},
        "expected": {"token": token},
    }


def account_sas(name, services, resource_types, permission, start, expiry, protocol, version=None,
                account=ACCOUNT, key=KEY):
    if version is None:
        version = X_MS_VERSION
        token = generate_account_sas(account, key, resource_types=resource_types, permission=permission,
                                     expiry=expiry, start=start, services=services, protocol=protocol)
    else:
        token = SharedAccessSignature(account, key, x_ms_version=version).generate_account(
            services=services, resource_types=resource_types, permission=permission, expiry=expiry,
            start=start, protocol=protocol)
    return {
        "name": name, "kind": "account",
        "input": {"account": account, "key": key, "services": services, "resourceTypes": resource_types,
                  "permissions": permission, "start": stamp(start), "expiry": stamp(expiry),
                  "version": version, "protocols": protocol},
        "expected": {"token": token},
    }


def sas_vectors():
    later = EXPIRY + datetime.timedelta(days=300, seconds=59)
    return [
        service_sas("container read+list", "source", None, "rl", START, EXPIRY, "https"),
        service_sas("container no start, no protocol", "source", None, "racwdl", None, later, None),
        service_sas("blob read", "source", "photos/img_0001.jpg", "r", START, EXPIRY, "https,http"),
        service_sas("blob awkward name", "source", "dir one/caf\u00e9 + na\u00efve?#&=~%.txt", "rw", START,
                    EXPIRY, "https"),
        service_sas("blob emoji name", "source", "\U0001F600/\U0001F4E6 box.bin", "r", None, EXPIRY, None),
        service_sas("container version 2021-08-06", "source", None, "rl", START, EXPIRY, "https",
                    version="2021-08-06"),
        service_sas("blob version 2020-12-06", "source", "a/b.txt", "r", START, EXPIRY, None,
                    version="2020-12-06"),
        service_sas("emulator container", "container", None, "rl", START, EXPIRY, None, account=DEV_ACCOUNT,
                    key=DEV_KEY),
        account_sas("account blob service+container+object read+list", "b", "sco", "rl", START, EXPIRY, "https"),
        account_sas("account no start, no protocol", "b", "co", "rwdlac", None, later, None),
        account_sas("account several services", "bfqt", "sco", "rwdlacup", START, EXPIRY, "https,http"),
        account_sas("account version 2021-08-06", "b", "sco", "rl", START, EXPIRY, None, version="2021-08-06"),
        account_sas("account emulator", "b", "sco", "rl", START, EXPIRY, "https,http", account=DEV_ACCOUNT,
                    key=DEV_KEY),
    ]


def main():
    out = {
        "generator": "generate_azure_vectors.py",
        "azure-storage-blob": azure.storage.blob.__version__,
        "defaultVersion": X_MS_VERSION,
        "sharedKey": shared_key_vectors(),
        "sas": sas_vectors(),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "azure_vectors.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(out['sharedKey'])} shared key and {len(out['sas'])} SAS vectors to {path}")


if __name__ == "__main__":
    main()
