#!/usr/bin/env python3
"""Writes sigv4_vectors.json: requests signed by botocore's S3SigV4Auth at a fixed date.

BlobferryCryptoTests signs the same inputs with SigV4Signer and compares every header it
returns with what botocore put on the request. Run by hand (pip install botocore) after
changing the request set below, and commit the JSON; CI only reads the JSON.

Each vector's inputs are exactly SigV4Signer.sign's arguments:
  method, host (Host header, port kept when not default), encodedPath (as sent),
  query (raw name/value pairs), headers (other headers sent), payload
  ({"kind": "unsigned"} | {"kind": "sha256Hex", "value": hex} | {"kind": "bytes", "hex": hex}),
  date (Unix seconds), credentials (accessKeyID, secretAccessKey, sessionToken or null).
expected: the headers botocore added (X-Amz-Date, X-Amz-Content-SHA256,
X-Amz-Security-Token when there is a token, Authorization), by lowercase name.
"""

import datetime
import hashlib
import json
import os
from urllib.parse import quote

import botocore
import botocore.auth
from botocore.auth import S3SigV4Auth, _host_from_url
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

FIXED = datetime.datetime(2026, 3, 14, 15, 9, 26, tzinfo=datetime.timezone.utc)
EXAMPLE = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None)
SESSION = ("ASIAXEXAMPLETEMPKEY1", "tEmPoRaRy/SeCrEt+KeY=example0123456789abc",
           "IQoJb3JpZ2luX2VjEFEaCXVzLWVhc3QtMSJHMEUCIQD/example+session/token==")
SEAWEED = ("blobferry", "blobferry-secret", None)


def encode_key(key):
    """How an S3 client puts an object key in the path: UTF-8, RFC 3986, "/" kept."""
    return quote(key, safe="/~")


def vector(name, method, base, path, query=(), headers=(), body=None, payload="bytes",
           creds=EXAMPLE, region="us-east-1"):
    url = base + path
    request = AWSRequest(method=method, url=url, data=body, params=list(query))
    for header_name, header_value in headers:
        request.headers[header_name] = header_value  # HTTPHeaders keeps repeated names
    signing_enabled = payload != "unsigned"
    request.context["client_config"] = Config(s3={"payload_signing_enabled": signing_enabled})
    credentials = Credentials(creds[0], creds[1], creds[2])
    S3SigV4Auth(credentials, "s3", region).add_auth(request)

    if payload == "unsigned":
        payload_input = {"kind": "unsigned"}
    elif payload == "sha256Hex":
        payload_input = {"kind": "sha256Hex", "value": hashlib.sha256(body or b"").hexdigest()}
    else:
        payload_input = {"kind": "bytes", "hex": (body or b"").hex()}

    managed = {"x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "authorization"}
    expected = {k.lower(): v for k, v in request.headers.items() if k.lower() in managed}
    return {
        "name": name,
        "input": {
            "method": method,
            "host": _host_from_url(url),
            "encodedPath": path,
            "query": [[k, v] for k, v in query],
            "headers": [[k, v] for k, v in headers],
            "payload": payload_input,
            "date": int(FIXED.timestamp()),
            "region": region,
            "credentials": {"accessKeyID": creds[0], "secretAccessKey": creds[1],
                            "sessionToken": creds[2]},
        },
        "expected": expected,
    }


def build():
    aws = "https://examplebucket.s3.amazonaws.com"
    path_style = "https://s3.eu-west-1.amazonaws.com"
    weed = "http://127.0.0.1:8333"
    md5 = "XrY7u+Ae7tCTyyK7j1rNww=="  # base64 MD5 of b"hello world"
    hello = b"hello world"
    awkward_keys = [
        ("space", "dir one/file two.txt"),
        ("plus", "a+b+c.txt"),
        ("percent", "100%/50%25.txt"),
        ("question", "why?.txt"),
        ("hash", "issue#42.md"),
        ("ampersand", "rock&roll.mp3"),
        ("tilde", "~user/.profile"),
        ("equals", "k=v;x=y"),
        ("unicode", "caf\u00e9/na\u00efve/\u65e5\u672c\u8a9e.txt"),
        ("emoji", "\U0001F600/\U0001F4E6 box \U0001F9EA.bin"),
        ("dot-segments", "a/./b/../c//d/"),
        ("reserved", "!$'()*,:;@[]"),
        ("control-and-quote", "tab\there\"quote\"<>\\^`{|}"),
        ("long", "deep/" * 150 + "\u00e9" * 200 + ".dat"),
    ]
    vectors = []
    for label, key in awkward_keys:
        vectors.append(vector(f"PUT path-style key with {label}", "PUT", weed,
                              "/migrated/" + encode_key(key),
                              headers=[("Content-MD5", md5), ("Content-Type", "application/octet-stream"),
                                       ("Content-Length", "11")],
                              body=hello, creds=SEAWEED))
        vectors.append(vector(f"GET virtual-hosted key with {label}", "GET", aws, "/" + encode_key(key),
                              body=None, payload="sha256Hex"))

    vectors += [
        vector("HEAD object", "HEAD", path_style, "/bucket/photos/2026/img_0001.jpg", region="eu-west-1",
               payload="sha256Hex"),
        vector("HEAD bucket with session token", "HEAD", path_style, "/bucket", region="eu-west-1",
               creds=SESSION, payload="unsigned"),
        vector("PUT unsigned payload with Content-MD5 and metadata", "PUT", aws, "/uploads/blob.bin",
               headers=[("Content-MD5", md5), ("Content-Length", "11"),
                        ("x-amz-meta-source", "azure://acct/container/blob.bin"),
                        ("x-amz-meta-Original-Name", "  Blob   Name\twith  spaces  "),
                        ("X-Amz-Storage-Class", "STANDARD_IA"), ("x-amz-server-side-encryption", "AES256")],
               body=hello, payload="unsigned"),
        vector("PUT signed payload sha256Hex with session token", "PUT", aws, "/a/b/c.txt",
               headers=[("Content-Type", "text/plain; charset=utf-8"), ("Content-MD5", md5)],
               body=hello, payload="sha256Hex", creds=SESSION),
        vector("PUT empty body", "PUT", weed, "/migrated/empty", headers=[("Content-Length", "0")],
               body=b"", creds=SEAWEED),
        vector("PUT with hop-by-hop headers left unsigned", "PUT", weed, "/migrated/hop",
               headers=[("User-Agent", "blobferry/1.0"), ("Expect", "100-continue"),
                        ("Content-MD5", md5), ("X-Amzn-Trace-Id", "Root=1-abc")],
               body=hello, creds=SEAWEED),
        vector("POST create multipart upload", "POST", aws, "/big/object.bin", query=[("uploads", "")],
               headers=[("Content-Type", "application/octet-stream")], body=b""),
        vector("PUT upload part", "PUT", aws, "/big/object.bin",
               query=[("uploadId", "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA"),
                      ("partNumber", "7")],
               headers=[("Content-MD5", md5)], body=hello),
        vector("POST complete multipart upload", "POST", aws, "/big/object.bin",
               query=[("uploadId", "abc/def+ghi=")],
               headers=[("Content-Type", "application/xml")],
               body=b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
                    b"<ETag>\"etag\"</ETag></Part></CompleteMultipartUpload>"),
        vector("GET ListObjectsV2 with special prefix", "GET", weed, "/migrated",
               query=[("list-type", "2"), ("prefix", "dir one/caf\u00e9+&=?#~%"), ("delimiter", "/"),
                      ("max-keys", "1000"), ("continuation-token", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOw=")],
               creds=SEAWEED, payload="sha256Hex"),
        vector("GET with repeated query names", "GET", aws, "/", query=[("b", "2"), ("a", "z"), ("a", "y"),
                                                                        ("A", "1"), ("a", "")],
               payload="sha256Hex"),
        vector("GET range and conditional headers", "GET", aws, "/test.txt",
               headers=[("Range", "bytes=0-9"), ("If-None-Match", "\"abc\""), ("x-amz-request-payer", "requester")],
               payload="sha256Hex"),
        vector("DELETE object with versionId", "DELETE", aws, "/old/report.pdf",
               query=[("versionId", "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo")],
               payload="sha256Hex"),
        vector("GET bucket on non-default https port", "GET", "https://s3.local.test:9443", "/bucket",
               query=[("location", "")], payload="sha256Hex", region="us-west-2"),
        vector("PUT with repeated header", "PUT", weed, "/migrated/multi",
               headers=[("x-amz-meta-tag", "one"), ("X-Amz-Meta-Tag", " two  words ")],
               body=hello, creds=SEAWEED),
    ]
    return vectors


def main():
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *a, **k: FIXED.replace(tzinfo=None)
    try:
        vectors = build()
    finally:
        botocore.auth.get_current_datetime = original
    out = {
        "generator": "generate_sigv4_vectors.py",
        "botocore": botocore.__version__,
        "vectors": vectors,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sigv4_vectors.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(vectors)} vectors to {path}")


if __name__ == "__main__":
    main()
