#!/usr/bin/env python3
"""blobferry's Azure Blob Storage emulator: a test fixture that speaks the real REST API.

Why our own: Azurite (npm) and Docker cannot run on the project's machines, and the tests
need things Azurite does not offer: injected latency and 503s, a small page cap, and a
"synthetic" container of millions of blobs that costs no memory. It is standard-library
Python so that it runs anywhere python3 does.

What it implements, with Azure's semantics and XML formats (checked with Microsoft's
azure-storage-blob SDK in scripts/tests/test_azure_emulator.py):

- Path-style URLs like Azurite: http://HOST:PORT/ACCOUNT/CONTAINER/BLOB, the blob name
  percent-decoded from the raw path (any character, '/' included, up to 1024 characters).
- Auth: Entra ID bearer tokens minted by the test authority (see verify_bearer), Shared Key (string-to-sign of x-ms-version >= 2015-02-21; for path-style URLs the
  account appears twice in the canonicalized resource: /account/account/container/blob,
  the path taken exactly as sent, still percent-encoded), service SAS (sr=c, sr=b) and
  account SAS, versions 2015-04-05 and later. Failures get Azure's codes: 403
  AuthenticationFailed (with the server's string-to-sign in AuthenticationErrorDetail,
  as Azure does), 403 AuthorizationPermissionMismatch / ...ResourceTypeMismatch /
  ...ServiceMismatch / ...ProtocolMismatch, and 401 NoAuthenticationInformation for a
  request with no credentials at all (Azure's documented status for that code).
- Containers: create (409 ContainerAlreadyExists), properties (GET/HEAD), delete, list.
- Blobs (BlockBlob only): Put Blob (Content-MD5 verified -> 400 Md5Mismatch; when absent
  the service computes and stores it, like Azure), Put Block / Put Block List (no stored
  MD5 unless x-ms-blob-content-md5 is sent, like Azure), Get Blob (Range / x-ms-range ->
  206 + Content-Range, 416 InvalidRange), Get Blob Properties, Set Blob Metadata, Set Blob
  Tier (Hot / Cool / Cold / Archive; Get Blob of an archived blob -> 409 BlobArchived;
  x-ms-access-tier comes with Get Blob Properties and List Blobs, not with Get Blob, as in
  Azure), Set Blob Tags / Get Blob Tags (comp=tags; Get Blob and Get Blob Properties
  return x-ms-tag-count when a blob has tags, as Azure does), Delete. Content-Type/-Encoding/-Language/-Disposition and Cache-Control are stored and
  returned as sent (bodies are never encoded or decoded).
  If-Match / If-None-Match on reads and writes.
- List Blobs: prefix, delimiter, marker / NextMarker (opaque), maxresults (default and cap
  5000, or --max-page), include=metadata, startFrom (inclusive; with x-ms-version
  2026-02-06 or later, ignored by older versions like any parameter they do not know).
  Order: names sorted by their UTF-8 bytes (the same as Python's code point order). Names that XML 1.0 cannot
  carry are sent as <Name Encoded="true"> with percent-encoding, as Azure does.
- Test knobs: --start-from support|reject|ignore (reject: act as a service older than
  2026-02-06, which answers 400 InvalidHeaderValue to that x-ms-version; ignore: list as
  if startFrom were absent, as older Azurite did), --latency-ms, --fail-rate/--fail-methods (503 ServerBusy, optional
  Retry-After), --max-page, --synthetic N (read-only container of N generated blobs,
  see SyntheticContainer), and an admin API on the same port (from loopback or from this
  host's own listening address only, no auth): GET/POST /__admin/config,
  GET /__admin/stats, POST /__admin/stats/reset. Stats count requests per client address
  too (`by_client`, and `in_progress_by_client`: requests received and not yet answered),
  so a test with clients in network namespaces can tell them apart.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import collections
import dataclasses
import datetime as dt
import email.utils
import functools
import hashlib
import hmac
import ipaddress
import itertools
import json
import os
import random
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import quote, unquote, unquote_plus

DEV_ACCOUNT = "devstoreaccount1"
# The well-known Azurite / Storage Emulator development key (public, not a secret).
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SERVICE_VERSION = "2025-11-05"
# The first service version that knows List Blobs' startFrom.
START_FROM_VERSION = "2026-02-06"
START_FROM_MODES = ("support", "reject", "ignore")
LIST_CAP = 5000
MAX_BLOB_NAME_CHARS = 1024
CLOCK_SKEW_SECONDS = 15 * 60

# --------------------------------------------------------------------------------------
# Small helpers: time formats, XML text, errors.
# --------------------------------------------------------------------------------------


def http_date(timestamp: float) -> str:
    """RFC 1123 date, as Azure sends in Last-Modified and in listing XML (whole seconds)."""
    return _http_date_of_second(int(timestamp))


@functools.lru_cache(maxsize=4096)
def _http_date_of_second(second: int) -> str:
    return email.utils.formatdate(second, usegmt=True)


_SAS_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?Z?)?$")


def parse_sas_time(value: str) -> Optional[float]:
    """Parses the ISO 8601 UTC forms Azure accepts in st/se; None when malformed."""
    match = _SAS_TIME.match(value)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
    try:
        moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.timezone.utc)
    except ValueError:
        return None
    return moment.timestamp()


# Characters XML 1.0 cannot carry at all, not even as character references.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_SPECIAL = re.compile("[&<>\r]")
_XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}


def xml_text(value: str) -> str:
    """Escapes text for an XML element; CR becomes &#13; so parsers do not fold it to LF.
    Characters XML cannot carry are percent-encoded (lossy, but the document stays valid;
    blob names use xml_name instead, which is lossless). Regex based: listing pages
    escape tens of thousands of strings."""
    if _XML_SPECIAL.search(value):
        value = _XML_SPECIAL.sub(lambda m: _XML_ESCAPES[m.group()], value)
    if _XML_INVALID.search(value):
        value = _XML_INVALID.sub(lambda m: quote(m.group(), safe="", errors="surrogatepass"), value)
    return value


def xml_name(name: str) -> str:
    """<Name> element of a blob: Azure percent-encodes names XML cannot carry and marks
    them Encoded="true"; the SDK decodes them back."""
    if _XML_INVALID.search(name):
        return '<Name Encoded="true">' + quote(name, safe="", errors="surrogatepass") + "</Name>"
    return "<Name>" + xml_text(name) + "</Name>"


class StorageError(Exception):
    """An Azure error response: status, x-ms-error-code and an XML <Error> body."""

    def __init__(self, status: int, code: str, message: str, detail: Optional[str] = None,
                 headers: Optional[Dict[str, str]] = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.headers = headers or {}


@dataclasses.dataclass
class Response:
    """What a handler returns; the HTTP layer adds common headers and Content-Length."""

    status: int
    headers: Dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b""


def error_body(error: StorageError, request_id: str) -> bytes:
    """Azure's error document; Message ends with RequestId and Time lines like Azure's."""
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    message = f"{error.message}\nRequestId:{request_id}\nTime:{when}"
    parts = ['<?xml version="1.0" encoding="utf-8"?><Error>',
             f"<Code>{error.code}</Code><Message>{xml_text(message)}</Message>"]
    if error.detail:
        parts.append(f"<AuthenticationErrorDetail>{xml_text(error.detail)}</AuthenticationErrorDetail>")
    parts.append("</Error>")
    return "".join(parts).encode("utf-8")


def container_not_found() -> StorageError:
    return StorageError(404, "ContainerNotFound", "The specified container does not exist.")


def blob_not_found() -> StorageError:
    return StorageError(404, "BlobNotFound", "The specified blob does not exist.")


# --------------------------------------------------------------------------------------
# Storage model.
# --------------------------------------------------------------------------------------

_etag_counter = itertools.count(int(time.time() * 1e6))


def new_etag() -> str:
    """A fresh opaque ETag shaped like Azure's (0x8D + hex), unique per write."""
    return "0x8D%013X" % next(_etag_counter)


@dataclasses.dataclass
class Blob:
    """One block blob: its bytes and the properties Azure keeps with them."""

    body: bytes
    content_type: str = "application/octet-stream"
    content_encoding: str = ""
    content_language: str = ""
    cache_control: str = ""
    content_disposition: str = ""
    content_md5: Optional[bytes] = None
    metadata: Dict[str, str] = dataclasses.field(default_factory=dict)
    access_tier: str = ""  # empty: inferred Hot (the account default), as Azure reports it
    tags: Dict[str, str] = dataclasses.field(default_factory=dict)  # blob index tags
    etag: str = dataclasses.field(default_factory=new_etag)
    last_modified: float = dataclasses.field(default_factory=time.time)
    created: float = dataclasses.field(default_factory=time.time)
    # Committed blocks (id, offset, length) when the blob was built by Put Block List.
    blocks: Optional[List[Tuple[str, int, int]]] = None


class Container:
    """An ordinary in-memory container. Names are kept in a dict and sorted lazily, so
    a burst of uploads costs O(1) each and the next listing sorts once."""

    read_only = False

    def __init__(self, name: str, metadata: Dict[str, str]):
        self.name = name
        self.metadata = metadata
        self.etag = new_etag()
        self.last_modified = time.time()
        self.blobs: Dict[str, Blob] = {}
        self.uncommitted: Dict[str, Dict[str, bytes]] = {}
        self._sorted: Optional[List[str]] = []

    def names(self) -> Sequence[str]:
        """Blob names in listing order (UTF-8 byte order == code point order)."""
        if self._sorted is None:
            self._sorted = sorted(self.blobs)
        return self._sorted

    def get(self, name: str) -> Optional[Blob]:
        return self.blobs.get(name)

    def describe(self, name: str) -> Blob:
        """Properties of a blob just listed (known to exist), for the listing XML."""
        return self.blobs[name]

    def put(self, name: str, blob: Blob) -> None:
        if name not in self.blobs:
            self._sorted = None
        self.blobs[name] = blob
        self.uncommitted.pop(name, None)

    def delete(self, name: str) -> bool:
        if self.blobs.pop(name, None) is None:
            return False
        self._sorted = None
        return True


# Synthetic names: first characters spread over the 62 partitions and beyond, weighted
# so lowercase is the most common, like real data. Sorted by code point.
_SYNTHETIC_FIRST = sorted(
    [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    + [chr(c) for c in range(ord("0"), ord("9") + 1)]
    + ["_", "-", ".", "~", " ", "!", "\u00e9", "\u65e5", "\U0001F600"]
)


def _first_char_weight(char: str) -> int:
    if "a" <= char <= "z":
        return 3
    if "A" <= char <= "Z" or "0" <= char <= "9":
        return 2
    return 1


# What follows the fixed-width number; every segment stays under SeaweedFS's 255 bytes
# and no name holds '\' or '//' (SeaweedFS rewrites those), so end-to-end runs through
# SeaweedFS keep every key.
_SYNTHETIC_SUFFIXES = [
    "", ".bin", "/part-1.json", " copy (1).txt", "+plus%25percent.txt", "#frag?q=1&x=2.dat",
    "/deep/nested/dir/\u00fc-\u00e9.txt", "_\u65e5\u672c\u8a9e\U0001F600.dat", ".tar.gz",
    "/a b/c d.txt", "&<amp>'quote\".xml", "/" + "x" * 200 + "/" + "y" * 200 + ".bin",
]


class SyntheticNames(Sequence):
    """The sorted names of a synthetic container, computed from their index on demand.

    Name i = first character + a zero-padded number + a suffix: the fixed-width number
    makes the sequence sorted whatever the suffix, so bisect works on it directly and a
    container of 100 million blobs costs no memory. `prefix` goes before every name (a
    skewed container: everything under one common prefix such as `uploads/`)."""

    def __init__(self, count: int, prefix: str = ""):
        self.count = count
        self.prefix = prefix
        total = sum(_first_char_weight(c) for c in _SYNTHETIC_FIRST)
        cumulative = list(itertools.accumulate(_first_char_weight(c) for c in _SYNTHETIC_FIRST))
        self.starts = [0] + [count * w // total for w in cumulative[:-1]]

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError(index)
        group = bisect.bisect_right(self.starts, index) - 1
        local = index - self.starts[group]
        mix = (local * 2654435761) & 0xFFFFFFFF
        suffix = _SYNTHETIC_SUFFIXES[(mix >> 8) % len(_SYNTHETIC_SUFFIXES)]
        return f"{self.prefix}{_SYNTHETIC_FIRST[group]}{local:09d}{suffix}"


class SyntheticContainer:
    """A read-only container of `count` generated blobs: names from SyntheticNames,
    bodies derived from the name, so listing and reading a million blobs costs only the
    CPU to produce each one.

    Body of a blob of size S (0..max_bytes, from a hash of the name): the first S-32
    bytes of a fixed filler, then the name's SHA-256. Every body differs (size and tail),
    and the MD5 is cheap: MD5 states over the filler are cached every 4 KiB, so each blob
    hashes at most 4 KiB + 32 bytes even when a listing reports 5000 Content-MD5s."""

    read_only = True
    _STRIDE = 4096

    def __init__(self, name: str, count: int, max_bytes: int, created: float, prefix: str = ""):
        self.name = name
        self.metadata: Dict[str, str] = {"synthetic": str(count)}
        self.etag = new_etag()
        self.last_modified = created
        self.max_bytes = max_bytes
        self._names = SyntheticNames(count, prefix)
        self._filler = self._make_filler(max_bytes)
        self._md5_states = self._make_md5_states(self._filler)

    @staticmethod
    def _make_filler(size: int) -> bytes:
        chunks, digest = [], b"blobferry synthetic filler"
        while sum(map(len, chunks)) < size:
            digest = hashlib.sha256(digest).digest()
            chunks.append(digest)
        return b"".join(chunks)[:size]

    @classmethod
    def _make_md5_states(cls, filler: bytes) -> list:
        states, running = [], hashlib.md5()
        for offset in range(0, len(filler) + 1, cls._STRIDE):
            states.append(running.copy())
            running.update(filler[offset:offset + cls._STRIDE])
        return states

    def names(self) -> Sequence[str]:
        return self._names

    def _index_of(self, name: str) -> Optional[int]:
        index = bisect.bisect_left(self._names, name)
        if index < len(self._names) and self._names[index] == name:
            return index
        return None

    def _size_and_tail(self, name: str) -> Tuple[int, bytes]:
        digest = hashlib.sha256(name.encode("utf-8")).digest()
        return int.from_bytes(digest[:4], "big") % (self.max_bytes + 1), digest

    def body_of(self, name: str) -> bytes:
        size, tail = self._size_and_tail(name)
        if size < len(tail):
            return tail[:size]
        return self._filler[:size - len(tail)] + tail

    def md5_of(self, name: str, size_and_tail: Optional[Tuple[int, bytes]] = None) -> bytes:
        size, tail = size_and_tail or self._size_and_tail(name)
        if size < len(tail):
            return hashlib.md5(tail[:size]).digest()
        filler_length = size - len(tail)
        state = self._md5_states[filler_length // self._STRIDE].copy()
        state.update(self._filler[filler_length - filler_length % self._STRIDE:filler_length])
        state.update(tail)
        return state.digest()

    def get(self, name: str) -> Optional[Blob]:
        """The blob named `name`, built on the fly, or None."""
        if self._index_of(name) is None:
            return None
        blob = self.describe(name)
        blob.body = self.body_of(name)
        return blob

    def describe(self, name: str) -> Blob:
        """Properties of a blob known to exist (just listed), without its body."""
        size, tail = self._size_and_tail(name)
        blob = Blob(body=b"", content_md5=self.md5_of(name, (size, tail)), etag="0x8D%013X" % int.from_bytes(tail[4:10], "big"),
                    last_modified=self.last_modified, created=self.last_modified,
                    metadata={"origin": "synthetic"})
        blob.size_override = size  # type: ignore[attr-defined]
        return blob

    def put(self, name: str, blob: Blob) -> None:
        raise read_only_error()

    def delete(self, name: str) -> bool:
        raise read_only_error()


def read_only_error() -> StorageError:
    return StorageError(409, "OperationNotAllowedOnSyntheticContainer",
                        "The synthetic container is read-only.")


def blob_size(blob: Blob) -> int:
    return getattr(blob, "size_override", len(blob.body))


class Store:
    """All containers of the account, behind one lock (handlers run on many threads)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.containers: Dict[str, object] = {}

    def container(self, name: str):
        container = self.containers.get(name)
        if container is None:
            raise container_not_found()
        return container


# --------------------------------------------------------------------------------------
# Listing: one page over a sorted sequence of names (a list or SyntheticNames).
# --------------------------------------------------------------------------------------


def successor(prefix: str) -> str:
    """The smallest string greater than every string that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def encode_marker(name: str) -> str:
    """NextMarker: opaque to clients, it names the first blob of the next page."""
    return "2!" + base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii")


def decode_marker(marker: str) -> str:
    if not marker.startswith("2!"):
        raise StorageError(400, "InvalidQueryParameterValue", "The marker is not valid.")
    try:
        return base64.urlsafe_b64decode(marker[2:].encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise StorageError(400, "InvalidQueryParameterValue", "The marker is not valid.") from None


def list_page(names: Sequence[str], prefix: str, marker: str, start_from: str,
              delimiter: str, max_results: int) -> Tuple[List[Tuple[str, str]], str]:
    """One page of ("blob"|"prefix", name) items and the NextMarker ("" at the end).

    Binary search finds the first name in range, so a page costs O(page + log n) even in
    a synthetic container of millions; a BlobPrefix skips its whole subtree the same way.
    """
    start = bisect.bisect_left(names, prefix) if prefix else 0
    if marker:
        start = max(start, bisect.bisect_left(names, decode_marker(marker)))
    if start_from:
        start = max(start, bisect.bisect_left(names, start_from))
    end = bisect.bisect_left(names, successor(prefix)) if prefix else len(names)
    items: List[Tuple[str, str]] = []
    index = start
    while index < end and len(items) < max_results:
        name = names[index]
        cut = name.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            common = name[:cut + len(delimiter)]
            items.append(("prefix", common))
            index = bisect.bisect_left(names, successor(common), index, end)
        else:
            items.append(("blob", name))
            index += 1
    return items, (encode_marker(names[index]) if index < end else "")


# --------------------------------------------------------------------------------------
# Operations: what each request is, and which SAS permission it needs.
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Operation:
    """A REST operation: its handler and what a SAS must grant to call it.

    `permissions` holds alternatives (any one letter suffices); `resource_type` is the
    account SAS srt letter (s service, c container, o object); `service_sas` tells
    whether a service SAS may call it at all."""

    name: str
    handler: str
    permissions: str
    resource_type: str
    service_sas: bool


OPERATIONS = {
    "ListContainers": Operation("ListContainers", "list_containers", "l", "s", False),
    "GetAccountInfo": Operation("GetAccountInfo", "account_info", "", "s", True),
    "CreateContainer": Operation("CreateContainer", "create_container", "cw", "c", False),
    "GetContainerProperties": Operation("GetContainerProperties", "container_properties", "r", "c", True),
    "DeleteContainer": Operation("DeleteContainer", "delete_container", "d", "c", False),
    "ListBlobs": Operation("ListBlobs", "list_blobs", "l", "c", True),
    "PutBlob": Operation("PutBlob", "put_blob", "cw", "o", True),
    "PutBlock": Operation("PutBlock", "put_block", "cw", "o", True),
    "PutBlockList": Operation("PutBlockList", "put_block_list", "cw", "o", True),
    "SetBlobMetadata": Operation("SetBlobMetadata", "set_blob_metadata", "w", "o", True),
    "SetBlobTier": Operation("SetBlobTier", "set_blob_tier", "w", "o", True),
    "SetBlobTags": Operation("SetBlobTags", "set_blob_tags", "t", "o", True),
    "GetBlobTags": Operation("GetBlobTags", "get_blob_tags", "t", "o", True),
    "GetBlob": Operation("GetBlob", "get_blob", "r", "o", True),
    "GetBlobProperties": Operation("GetBlobProperties", "blob_properties", "r", "o", True),
    "DeleteBlob": Operation("DeleteBlob", "delete_blob", "d", "o", True),
}


def classify(method: str, container: str, blob: str, query: Dict[str, str]) -> Operation:
    """Maps method + URL shape + restype/comp to the REST operation."""
    restype, comp = query.get("restype", ""), query.get("comp", "")
    if restype == "account" and comp == "properties" and method in ("GET", "HEAD"):
        return OPERATIONS["GetAccountInfo"]
    if not container:
        if method == "GET" and comp == "list":
            return OPERATIONS["ListContainers"]
    elif not blob:
        if restype == "container":
            key = {("PUT", ""): "CreateContainer", ("GET", ""): "GetContainerProperties",
                   ("HEAD", ""): "GetContainerProperties", ("DELETE", ""): "DeleteContainer",
                   ("GET", "list"): "ListBlobs"}.get((method, comp))
            if key:
                return OPERATIONS[key]
    else:
        key = {("PUT", ""): "PutBlob", ("PUT", "block"): "PutBlock",
               ("PUT", "blocklist"): "PutBlockList", ("PUT", "metadata"): "SetBlobMetadata",
               ("PUT", "tier"): "SetBlobTier", ("PUT", "tags"): "SetBlobTags", ("GET", "tags"): "GetBlobTags",
               ("GET", ""): "GetBlob", ("HEAD", ""): "GetBlobProperties",
               ("DELETE", ""): "DeleteBlob"}.get((method, comp))
        if key:
            return OPERATIONS[key]
    raise StorageError(400, "UnsupportedHttpVerb" if method not in ("GET", "PUT", "HEAD", "DELETE")
                       else "InvalidQueryParameterValue",
                       f"The emulator does not support {method} with restype={restype!r} comp={comp!r} here.")


# --------------------------------------------------------------------------------------
# Authentication: Shared Key and SAS.
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Request:
    """The parts of an HTTP request that auth and handlers look at."""

    method: str
    raw_path: str
    raw_query: str
    headers: Dict[str, str]            # lowercased names; repeated headers joined by ","
    query: Dict[str, str]              # decoded; lowercased names; last value wins
    query_multi: Dict[str, List[str]]  # decoded; lowercased names; every value
    account: str
    container: str
    blob: str
    body: bytes
    client_ip: str
    raw_headers: List[Tuple[str, str]] = dataclasses.field(default_factory=list)  # as sent

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def sign(key_b64: str, string_to_sign: str) -> str:
    """HMAC-SHA256 with the base64 account key, base64 result (Azure's signature)."""
    key = base64.b64decode(key_b64)
    return base64.b64encode(hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).digest()).decode()


# Primary collation weights of the characters an HTTP header name may hold, in the order
# the service sorts them: punctuation, then '_' among it, then digits, then letters (case
# folded). '-' is not listed: the service ignores it at the first level.
_HEADER_COLLATION = {c: i for i, c in enumerate("!#$%&*.^_`|~+0123456789abcdefghijklmnopqrstuvwxyz")}


def _collation_key(name: str):
    """Sort key of the service's culture-aware ordering of x-ms-* headers (which the SDKs
    reproduce): hyphens ignored at the first level, '_' before digits before letters; ties
    broken ordinally. It differs from plain ordinal order only for names holding '-', '_',
    digits or punctuation at the same place, e.g. x-ms-meta-a_b < x-ms-meta-a1 < x-ms-meta-a-c."""
    return [_HEADER_COLLATION.get(c, 100 + ord(c)) for c in name.lower() if c != "-"], name


def canonicalized_headers(request: Request, trim_values: bool) -> str:
    """x-ms-* headers in the service's order, `name:value\n` each. Values are taken as
    received (leading whitespace already dropped by the HTTP parser; trailing kept, as the
    SDK signs them), or fully trimmed for clients that trim before signing."""
    names = sorted((n for n in request.headers if n.startswith("x-ms-")), key=_collation_key)
    return "".join(f"{n}:{request.headers[n].strip() if trim_values else request.headers[n]}\n"
                   for n in names)


def canonicalized_resource(request: Request, account: str) -> str:
    """/account + the path exactly as sent (still percent-encoded) + sorted query lines."""
    lines = [f"/{account}{request.raw_path}"]
    for name in sorted(request.query_multi):
        values = ",".join(sorted(request.query_multi[name]))
        lines.append(f"\n{name}:{values}")
    return "".join(lines)


def shared_key_strings_to_sign(request: Request, account: str) -> List[str]:
    """The string-to-sign for version 2015-02-21 and later (Content-Length empty when 0).

    Date is empty when x-ms-date is sent (the docs' rule); x-ms-* values are signed as
    received. Two points where clients differ are relaxed: a candidate with the Date header
    filled in, and one with trimmed x-ms-* values, are also accepted. Nothing else is.
    The first candidate is the one AuthenticationErrorDetail shows."""
    def build(date_value: str, trim_values: bool) -> str:
        length = request.header("content-length")
        fields = [request.method,
                  request.header("content-encoding"), request.header("content-language"),
                  "" if length == "0" else length, request.header("content-md5"),
                  request.header("content-type"), date_value,
                  request.header("if-modified-since"), request.header("if-match"),
                  request.header("if-none-match"), request.header("if-unmodified-since"),
                  request.header("range")]
        return "\n".join(fields) + "\n" + canonicalized_headers(request, trim_values) + \
            canonicalized_resource(request, account)

    date = request.header("date")
    primary_date = "" if request.header("x-ms-date") else date
    candidates = [build(primary_date, False)]
    for variant in (build(date, False), build(primary_date, True), build(date, True)):
        if variant not in candidates:
            candidates.append(variant)
    return candidates


def auth_failed(detail: str) -> StorageError:
    return StorageError(403, "AuthenticationFailed",
                        "Server failed to authenticate the request. Make sure the value of "
                        "Authorization header is formed correctly including the signature.",
                        detail=detail)


def check_request_date(request: Request) -> None:
    """Azure refuses Shared Key requests whose date is missing or >15 minutes off."""
    value = request.header("x-ms-date") or request.header("date")
    if not value:
        raise auth_failed("Request must contain a date header (x-ms-date or Date).")
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        raise auth_failed(f"The date header '{value}' is not a valid RFC 1123 date.") from None
    if abs(time.time() - when) > CLOCK_SKEW_SECONDS:
        raise auth_failed(f"Request date header too old or too far in the future: '{value}'.")


def verify_shared_key(request: Request, account: str, key: str) -> None:
    authorization = request.header("authorization")
    scheme, _, credentials = authorization.partition(" ")
    if scheme != "SharedKey":
        raise auth_failed(f"Authentication scheme '{scheme}' is not supported by the emulator.")
    claimed_account, _, signature = credentials.strip().partition(":")
    if claimed_account != account:
        raise auth_failed(f"The account '{claimed_account}' is not this emulator's account '{account}'.")
    check_request_date(request)
    candidates = shared_key_strings_to_sign(request, account)
    for candidate in candidates:
        if hmac.compare_digest(sign(key, candidate), signature):
            return
    raise auth_failed(f"The MAC signature found in the HTTP request '{signature}' is not the same "
                      f"as any computed signature. Server used following string to sign: "
                      f"'{candidates[0]}'.")


def _sas_field(query: Dict[str, str], name: str) -> str:
    return query.get(name, "")


def service_sas_string_to_sign(request: Request, account: str) -> str:
    """Service SAS string-to-sign for the version in sv (2015-04-05 and later)."""
    q, version = request.query, request.query.get("sv", "")
    resource = f"/blob/{account}/{request.container}"
    if q.get("sr") == "b":
        resource += f"/{request.blob}"
    fields = [_sas_field(q, "sp"), _sas_field(q, "st"), _sas_field(q, "se"), resource,
              _sas_field(q, "si"), _sas_field(q, "sip"), _sas_field(q, "spr"), version]
    if version >= "2018-11-09":
        fields += [_sas_field(q, "sr"), ""]  # signed snapshot time: none, snapshots unsupported
    if version >= "2020-12-06":
        fields.append(_sas_field(q, "ses"))
    fields += [_sas_field(q, n) for n in ("rscc", "rscd", "rsce", "rscl", "rsct")]
    return "\n".join(fields)


def account_sas_string_to_sign(request: Request, account: str) -> str:
    """Account SAS string-to-sign; ses joins the fields from version 2020-12-06."""
    q = request.query
    fields = [account] + [_sas_field(q, n) for n in ("sp", "ss", "srt", "st", "se", "sip", "spr", "sv")]
    if q.get("sv", "") >= "2020-12-06":
        fields.append(_sas_field(q, "ses"))
    return "\n".join(fields) + "\n"


def check_sas_window_and_network(request: Request) -> None:
    """Expiry, start, protocol and IP range of a SAS, each with Azure's error code."""
    q, now = request.query, time.time()
    expiry = parse_sas_time(q.get("se", ""))
    if expiry is None:
        raise auth_failed("Signed expiry time (se) is missing or malformed.")
    start = parse_sas_time(q["st"]) if q.get("st") else None
    if q.get("st") and start is None:
        raise auth_failed("Signed start time (st) is malformed.")
    if now > expiry or (start is not None and now < start):
        raise auth_failed("Signed expiry time [%s] must be after signed start time [%s] and the "
                          "current time must fall between them." % (q.get("se"), q.get("st", "")))
    protocols = q.get("spr", "https,http")
    if "http" not in protocols.split(","):
        raise StorageError(403, "AuthorizationProtocolMismatch",
                           "This request is not authorized to perform this operation using this protocol.")
    if q.get("sip") and not _ip_in_range(request.client_ip, q["sip"]):
        raise StorageError(403, "AuthorizationSourceIPMismatch",
                           "This request is not authorized to perform this operation using this source IP.")


def _ip_in_range(ip: str, allowed: str) -> bool:
    low, _, high = allowed.partition("-")
    try:
        address = ipaddress.ip_address(ip)
        return ipaddress.ip_address(low) <= address <= ipaddress.ip_address(high or low)
    except ValueError:
        return False


def permission_denied() -> StorageError:
    return StorageError(403, "AuthorizationPermissionMismatch",
                        "This request is not authorized to perform this operation using this permission.")


def verify_sas(request: Request, operation: Operation, account: str, key: str) -> None:
    """Checks a service or account SAS: signature first, then window, then scope."""
    q = request.query
    version = q.get("sv", "")
    if version < "2015-04-05":
        raise auth_failed(f"SAS version sv='{version}' is not supported (2015-04-05 or later).")
    is_account_sas = "ss" in q or "srt" in q
    if is_account_sas:
        expected = account_sas_string_to_sign(request, account)
    else:
        if q.get("si") or q.get("skoid"):
            raise auth_failed("Stored access policies and user delegation SAS are not supported.")
        if q.get("sr") not in ("b", "c"):
            raise auth_failed(f"Signed resource sr='{q.get('sr', '')}' is not supported (b or c).")
        expected = service_sas_string_to_sign(request, account)
    if not hmac.compare_digest(sign(key, expected), q.get("sig", "")):
        raise auth_failed(f"Signature did not match. String to sign used was {expected!r}.")
    check_sas_window_and_network(request)
    permissions = q.get("sp", "")
    if operation.permissions and not any(p in permissions for p in operation.permissions):
        raise permission_denied()
    if is_account_sas:
        if "b" not in q.get("ss", ""):
            raise StorageError(403, "AuthorizationServiceMismatch",
                               "This request is not authorized to perform this operation using this service.")
        if operation.resource_type not in q.get("srt", ""):
            raise StorageError(403, "AuthorizationResourceTypeMismatch",
                               "This request is not authorized to perform this operation using this resource type.")
    elif not operation.service_sas or (q.get("sr") == "b" and not request.blob):
        raise StorageError(403, "AuthorizationResourceTypeMismatch",
                           "This request is not authorized to perform this operation using this resource type.")


def verify_bearer(request: Request, account: str, key: str) -> None:
    """An Entra ID bearer token, as the test authority (scripts/credential_endpoints.py)
    mints them: 'bf1.<expiry, epoch seconds>.<HMAC of "bf1.<expiry>" with the account key>'.
    Like Azure: x-ms-version 2017-11-09 or later, a bad or expired token is 401
    InvalidAuthenticationInfo with a Bearer challenge."""
    if (request.header("x-ms-version") or "") < "2017-11-09":
        raise StorageError(400, "InvalidHeaderValue",
                           "Bearer tokens need x-ms-version 2017-11-09 or later.")
    token = request.header("authorization")[len("Bearer "):].strip()
    parts = token.split(".")
    challenge = {"WWW-Authenticate": "Bearer authorization_uri=https://login.microsoftonline.com/"
                                     "tenant/oauth2/authorize resource_id=https://storage.azure.com"}
    if len(parts) != 3 or parts[0] != "bf1" or not parts[1].isdigit() or \
            not hmac.compare_digest(sign(key, f"bf1.{parts[1]}"), parts[2]):
        raise StorageError(401, "InvalidAuthenticationInfo",
                           "Server failed to authenticate the request. Please refer to the "
                           "information in the www-authenticate header.", headers=challenge)
    if int(parts[1]) < time.time():
        raise StorageError(401, "InvalidAuthenticationInfo",
                           "Server failed to authenticate the request. Please refer to the "
                           "information in the www-authenticate header.",
                           detail="Lifetime validation failed. The token is expired.", headers=challenge)


def authenticate(request: Request, operation: Operation, account: str, key: str) -> None:
    """SAS when the query carries sig, a bearer token, else Shared Key; nothing at all ->
    401 like Azure."""
    if "sig" in request.query:
        verify_sas(request, operation, account, key)
    elif request.header("authorization").startswith("Bearer "):
        verify_bearer(request, account, key)
    elif request.header("authorization"):
        verify_shared_key(request, account, key)
    else:
        raise StorageError(401, "NoAuthenticationInformation",
                           "Server failed to authenticate the request. Please refer to the "
                           "information in the www-authenticate header.",
                           headers={"WWW-Authenticate": "SharedKey"})


# --------------------------------------------------------------------------------------
# Request handlers (pure functions of the store and the request).
# --------------------------------------------------------------------------------------

_METADATA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")


def request_metadata(request: Request) -> Dict[str, str]:
    """x-ms-meta-* headers -> metadata; names must be C# identifiers, as in Azure."""
    metadata = {}
    for name, value in request.raw_headers:
        if name.lower().startswith("x-ms-meta-"):
            key = name[len("x-ms-meta-"):]
            if not _METADATA_NAME.match(key):
                raise StorageError(400, "InvalidMetadata", f"The metadata name '{key}' is not valid.")
            metadata[key] = value.strip()
    return metadata


def metadata_headers(metadata: Dict[str, str]) -> Dict[str, str]:
    return {f"x-ms-meta-{k}": v for k, v in metadata.items()}


def check_conditions(request: Request, etag: Optional[str], is_read: bool) -> None:
    """If-Match / If-None-Match against the current ETag (None: the blob is absent)."""
    if_match, if_none = request.header("if-match"), request.header("if-none-match")
    quoted = f'"{etag}"' if etag else None
    if if_match and (etag is None or (if_match != "*" and quoted not in _etag_list(if_match))):
        raise StorageError(412, "ConditionNotMet",
                           "The condition specified using HTTP conditional header(s) is not met.")
    if if_none and etag is not None and (if_none == "*" or quoted in _etag_list(if_none)):
        if is_read:
            raise StorageError(304, "ConditionNotMet",
                               "The condition specified using HTTP conditional header(s) is not met.")
        if if_none == "*":
            raise StorageError(409, "BlobAlreadyExists", "The specified blob already exists.")
        raise StorageError(412, "ConditionNotMet",
                           "The condition specified using HTTP conditional header(s) is not met.")


def _etag_list(value: str) -> List[str]:
    return [v.strip() if v.strip().startswith('"') else f'"{v.strip()}"' for v in value.split(",")]


def decode_md5_header(value: str) -> bytes:
    try:
        digest = base64.b64decode(value, validate=True)
    except ValueError:
        digest = b""
    if len(digest) != 16:
        raise StorageError(400, "InvalidMd5", "The MD5 value specified in the request is invalid. "
                           "The MD5 value must be 128 bits and Base64-encoded.")
    return digest


def blob_properties_from_headers(request: Request, body: bytes, md5: Optional[bytes]) -> Blob:
    """A Blob from Put Blob / Put Block List headers (x-ms-blob-content-* first)."""
    def pick(name: str) -> str:
        return request.header(f"x-ms-blob-{name}") or ""
    return Blob(
        body=body,
        content_type=pick("content-type") or request.header("content-type") or "application/octet-stream",
        content_encoding=pick("content-encoding") or request.header("content-encoding"),
        content_language=pick("content-language") or request.header("content-language"),
        cache_control=pick("cache-control") or request.header("cache-control"),
        content_disposition=pick("content-disposition") or request.header("content-disposition"),
        content_md5=md5, metadata=request_metadata(request))


def write_response(blob: Blob, status: int = 201) -> Response:
    headers = {"ETag": f'"{blob.etag}"', "Last-Modified": http_date(blob.last_modified),
               "x-ms-request-server-encrypted": "true"}
    if blob.content_md5 is not None:
        headers["Content-MD5"] = base64.b64encode(blob.content_md5).decode()
    return Response(status, headers)


class Handlers:
    """One method per REST operation; each takes the request and returns a Response."""

    def __init__(self, store: Store, settings: "Settings", endpoint: Callable[[], str]):
        self.store = store
        self.settings = settings
        self.endpoint = endpoint

    # -- account ---------------------------------------------------------------------

    def account_info(self, request: Request) -> Response:
        return Response(200, {"x-ms-sku-name": "Standard_LRS", "x-ms-account-kind": "StorageV2",
                              "x-ms-is-hns-enabled": "false"})

    def list_containers(self, request: Request) -> Response:
        with self.store.lock:
            names = sorted(self.store.containers)
            items, next_marker = list_page(names, request.query.get("prefix", ""),
                                           request.query.get("marker", ""), "", "",
                                           self._max_results(request))
            parts = ['<?xml version="1.0" encoding="utf-8"?>',
                     f'<EnumerationResults ServiceEndpoint="{xml_text(self.endpoint())}/">']
            parts += self._echo_list_params(request)
            parts.append("<Containers>")
            include_metadata = "metadata" in request.query.get("include", "").split(",")
            for _, name in items:
                container = self.store.containers[name]
                parts.append(f"<Container><Name>{xml_text(name)}</Name><Properties>"
                             f"<Last-Modified>{http_date(container.last_modified)}</Last-Modified>"
                             f"<Etag>\"{container.etag}\"</Etag><LeaseStatus>unlocked</LeaseStatus>"
                             f"<LeaseState>available</LeaseState><HasImmutabilityPolicy>false"
                             f"</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold></Properties>")
                if include_metadata:
                    parts.append(self._metadata_xml(container.metadata))
                parts.append("</Container>")
        parts.append(f"</Containers><NextMarker>{xml_text(next_marker)}</NextMarker></EnumerationResults>")
        return self._xml(parts)

    # -- containers ------------------------------------------------------------------

    def create_container(self, request: Request) -> Response:
        if not _CONTAINER_NAME.match(request.container):
            raise StorageError(400, "InvalidResourceName",
                               "The specifed resource name contains invalid characters.")
        metadata = request_metadata(request)
        with self.store.lock:
            if request.container in self.store.containers:
                raise StorageError(409, "ContainerAlreadyExists", "The specified container already exists.")
            container = Container(request.container, metadata)
            self.store.containers[request.container] = container
        return Response(201, {"ETag": f'"{container.etag}"',
                              "Last-Modified": http_date(container.last_modified)})

    def container_properties(self, request: Request) -> Response:
        with self.store.lock:
            container = self.store.container(request.container)
            headers = {"ETag": f'"{container.etag}"', "Last-Modified": http_date(container.last_modified),
                       "x-ms-lease-status": "unlocked", "x-ms-lease-state": "available",
                       "x-ms-has-immutability-policy": "false", "x-ms-has-legal-hold": "false"}
            headers.update(metadata_headers(container.metadata))
        return Response(200, headers)

    def delete_container(self, request: Request) -> Response:
        with self.store.lock:
            self.store.container(request.container)
            del self.store.containers[request.container]
        return Response(202)

    def list_blobs(self, request: Request) -> Response:
        q = request.query
        include = set(filter(None, q.get("include", "").split(",")))
        with self.store.lock:
            container = self.store.container(request.container)
            items, next_marker = list_page(container.names(), q.get("prefix", ""), q.get("marker", ""),
                                           self._start_from(request), q.get("delimiter", ""),
                                           self._max_results(request))
            entries = [(kind, name, container.describe(name) if kind == "blob" else None)
                       for kind, name in items]
        parts = ['<?xml version="1.0" encoding="utf-8"?>',
                 f'<EnumerationResults ServiceEndpoint="{xml_text(self.endpoint())}/" '
                 f'ContainerName="{xml_text(request.container)}">']
        parts += self._echo_list_params(request)
        if "delimiter" in q:
            parts.append(f"<Delimiter>{xml_text(q['delimiter'])}</Delimiter>")
        parts.append("<Blobs>")
        for kind, name, blob in entries:
            if kind == "prefix":
                parts.append(f"<BlobPrefix>{xml_name(name)}</BlobPrefix>")
            else:
                parts.append(self._blob_xml(name, blob, "metadata" in include))
        parts.append(f"</Blobs><NextMarker>{xml_text(next_marker)}</NextMarker></EnumerationResults>")
        return self._xml(parts)

    def _start_from(self, request: Request) -> str:
        """startFrom as the service applies it: only from version 2026-02-06 on (dates
        compare as strings), and not at all when the switch says the service ignores it."""
        if self.settings.start_from == "ignore" or request.header("x-ms-version") < START_FROM_VERSION:
            return ""
        return request.query.get("startfrom", "")

    def _blob_xml(self, name: str, blob: Blob, include_metadata: bool) -> str:
        md5 = base64.b64encode(blob.content_md5).decode() if blob.content_md5 is not None else ""
        xml = (f"<Blob>{xml_name(name)}<Properties>"
               f"<Creation-Time>{http_date(blob.created)}</Creation-Time>"
               f"<Last-Modified>{http_date(blob.last_modified)}</Last-Modified>"
               f"<Etag>{blob.etag}</Etag><Content-Length>{blob_size(blob)}</Content-Length>"
               f"<Content-Type>{xml_text(blob.content_type)}</Content-Type>"
               f"<Content-Encoding>{xml_text(blob.content_encoding)}</Content-Encoding>"
               f"<Content-Language>{xml_text(blob.content_language)}</Content-Language>"
               f"<Content-CRC64 /><Content-MD5>{md5}</Content-MD5>"
               f"<Cache-Control>{xml_text(blob.cache_control)}</Cache-Control>"
               f"<Content-Disposition>{xml_text(blob.content_disposition)}</Content-Disposition>"
               "<BlobType>BlockBlob</BlobType>"
               f"<AccessTier>{blob.access_tier or 'Hot'}</AccessTier>"
               + ("" if blob.access_tier else "<AccessTierInferred>true</AccessTierInferred>")
               + "<LeaseStatus>unlocked</LeaseStatus>"
               "<LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted>"
               "</Properties>")
        if include_metadata:
            xml += self._metadata_xml(blob.metadata)
        return xml + "</Blob>"

    @staticmethod
    def _metadata_xml(metadata: Dict[str, str]) -> str:
        return "<Metadata>" + "".join(f"<{k}>{xml_text(v)}</{k}>" for k, v in metadata.items()) + "</Metadata>"

    @staticmethod
    def _echo_list_params(request: Request) -> List[str]:
        q, parts = request.query, []
        for param, element in (("prefix", "Prefix"), ("marker", "Marker"), ("maxresults", "MaxResults")):
            if param in q:
                parts.append(f"<{element}>{xml_text(q[param])}</{element}>")
        return parts

    def _max_results(self, request: Request) -> int:
        cap = min(LIST_CAP, self.settings.max_page or LIST_CAP)
        raw = request.query.get("maxresults", "")
        if not raw:
            return cap
        if not raw.isdigit() or int(raw) < 1:
            raise StorageError(400, "OutOfRangeQueryParameterValue",
                               "One of the query parameters specified in the request URI is outside the permissible range.")
        return min(int(raw), cap)

    @staticmethod
    def _xml(parts: List[str]) -> Response:
        return Response(200, {"Content-Type": "application/xml"}, "".join(parts).encode("utf-8"))

    # -- blobs -----------------------------------------------------------------------

    def put_blob(self, request: Request) -> Response:
        blob_type = request.header("x-ms-blob-type")
        if blob_type != "BlockBlob":
            raise StorageError(400, "InvalidHeaderValue" if blob_type else "MissingRequiredHeader",
                               f"x-ms-blob-type must be BlockBlob (got '{blob_type}'); the emulator "
                               "stores block blobs only.")
        computed = hashlib.md5(request.body).digest()
        if request.header("content-md5") and decode_md5_header(request.header("content-md5")) != computed:
            raise StorageError(400, "Md5Mismatch", "The MD5 value specified in the request did not match "
                               "with the MD5 value calculated by the server.")
        stored = request.header("x-ms-blob-content-md5")
        blob = blob_properties_from_headers(request, request.body,
                                            decode_md5_header(stored) if stored else computed)
        return self._store_blob(request, blob)

    def _store_blob(self, request: Request, blob: Blob) -> Response:
        with self.store.lock:
            container = self.store.container(request.container)
            existing = container.get(request.blob)
            check_conditions(request, existing.etag if existing else None, is_read=False)
            if existing is not None and "sig" in request.query and "w" not in request.query.get("sp", ""):
                raise permission_denied()  # 'c' creates new blobs only
            container.put(request.blob, blob)
        return write_response(blob)

    def put_block(self, request: Request) -> Response:
        block_id = request.query.get("blockid", "")
        if not block_id:
            raise StorageError(400, "InvalidQueryParameterValue", "blockid is required.")
        if request.header("content-md5") and \
                decode_md5_header(request.header("content-md5")) != hashlib.md5(request.body).digest():
            raise StorageError(400, "Md5Mismatch", "The MD5 value specified in the request did not match "
                               "with the MD5 value calculated by the server.")
        with self.store.lock:
            container = self.store.container(request.container)
            if container.read_only:
                raise read_only_error()
            container.uncommitted.setdefault(request.blob, {})[block_id] = request.body
        return Response(201, {"x-ms-request-server-encrypted": "true"})

    def put_block_list(self, request: Request) -> Response:
        wanted = re.findall(r"<(Latest|Committed|Uncommitted)>([^<]*)</\1>", request.body.decode("utf-8", "replace"))
        with self.store.lock:
            container = self.store.container(request.container)
            if container.read_only:
                raise read_only_error()
            pending = container.uncommitted.get(request.blob, {})
            existing = container.get(request.blob)
            committed = {}
            if existing is not None and existing.blocks:
                committed = {i: existing.body[o:o + n] for i, o, n in existing.blocks}
            chunks, blocks, offset = [], [], 0
            for kind, block_id in wanted:
                data = pending.get(block_id) if kind != "Committed" else None
                if data is None and kind != "Uncommitted":
                    data = committed.get(block_id)
                if data is None:
                    raise StorageError(400, "InvalidBlockList", "The specified block list is invalid.")
                chunks.append(data)
                blocks.append((block_id, offset, len(data)))
                offset += len(data)
        stored = request.header("x-ms-blob-content-md5")
        blob = blob_properties_from_headers(request, b"".join(chunks),
                                            decode_md5_header(stored) if stored else None)
        blob.blocks = blocks
        return self._store_blob(request, blob)

    def _update_blob(self, request: Request, conditional: bool, **changes) -> Blob:
        """Replaces some properties of an existing blob (Set Blob Metadata, Tier, Tags);
        `conditional`: If-Match / If-None-Match apply."""
        with self.store.lock:
            container = self.store.container(request.container)
            blob = container.get(request.blob)
            if blob is None:
                raise blob_not_found()
            if container.read_only:
                raise read_only_error()
            if conditional:
                check_conditions(request, blob.etag, is_read=False)
            updated = dataclasses.replace(blob, **changes)
            container.put(request.blob, updated)
        return updated

    def set_blob_metadata(self, request: Request) -> Response:
        metadata = request_metadata(request)
        updated = self._update_blob(request, True, metadata=metadata, etag=new_etag(), last_modified=time.time())
        return Response(200, {"ETag": f'"{updated.etag}"', "Last-Modified": http_date(updated.last_modified)})

    TIERS = ("Hot", "Cool", "Cold", "Archive")

    def set_blob_tier(self, request: Request) -> Response:
        """Set Blob Tier: the tier changes at once (no rehydration delay); the ETag and
        Last-Modified stay, as Azure keeps them."""
        tier = request.header("x-ms-access-tier")
        if tier not in self.TIERS:
            raise StorageError(400, "InvalidHeaderValue", f"The value for x-ms-access-tier ('{tier}') is not valid.")
        self._update_blob(request, False, access_tier=tier)
        return Response(200, {})

    _TAG_PAIR = re.compile(r"<Tag>\s*<Key>([^<]*)</Key>\s*<Value>([^<]*)</Value>\s*</Tag>")
    _TAG_CHARS = re.compile(r"^[A-Za-z0-9 +\-./:=_]*$")

    def set_blob_tags(self, request: Request) -> Response:
        """Set Blob Tags: replaces the blob's index tags (at most 10; keys 1-128 and values
        0-256 characters of letters, digits, space and + - . / : = _). The ETag and
        Last-Modified stay, as Azure keeps them."""
        import html
        pairs = [(html.unescape(k), html.unescape(v))
                 for k, v in self._TAG_PAIR.findall(request.body.decode("utf-8", "replace"))]
        if len(pairs) > 10 or any(not 1 <= len(k) <= 128 or len(v) > 256 or not self._TAG_CHARS.match(k + v)
                                  for k, v in pairs):
            raise StorageError(400, "InvalidTag", "The tags specified are invalid. It contains characters "
                               "that are not permitted or too many tags.")
        self._update_blob(request, False, tags=dict(pairs))
        return Response(204, {})

    def get_blob_tags(self, request: Request) -> Response:
        blob = self._find_blob(request)
        tags = "".join(f"<Tag><Key>{xml_text(k)}</Key><Value>{xml_text(v)}</Value></Tag>"
                       for k, v in blob.tags.items())
        return self._xml(['<?xml version="1.0" encoding="utf-8"?>', f"<Tags><TagSet>{tags}</TagSet></Tags>"])

    def _find_blob(self, request: Request) -> Blob:
        with self.store.lock:
            blob = self.store.container(request.container).get(request.blob)
        if blob is None:
            raise blob_not_found()
        check_conditions(request, blob.etag, is_read=True)
        return blob

    def blob_properties(self, request: Request) -> Response:
        blob = self._find_blob(request)
        headers = self._blob_headers(blob, request)
        headers["Content-Length"] = str(blob_size(blob))
        headers["x-ms-access-tier"] = blob.access_tier or "Hot"
        if not blob.access_tier:
            headers["x-ms-access-tier-inferred"] = "true"
        return Response(200, headers)

    def get_blob(self, request: Request) -> Response:
        blob = self._find_blob(request)
        if blob.access_tier == "Archive":
            raise StorageError(409, "BlobArchived", "This operation is not permitted on an archived blob.")
        headers = self._blob_headers(blob, request)
        size = blob_size(blob)
        byte_range = self._parse_range(request, size)
        if byte_range is None:
            return Response(200, headers, blob.body)
        first, last = byte_range
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        headers.pop("Content-MD5", None)
        if blob.content_md5 is not None:
            headers["x-ms-blob-content-md5"] = base64.b64encode(blob.content_md5).decode()
        part = blob.body[first:last + 1]
        if request.header("x-ms-range-get-content-md5").lower() == "true":
            if len(part) > 4 * 1024 * 1024:
                raise StorageError(400, "OutOfRangeInput", "x-ms-range-get-content-md5 needs a range of 4 MiB or less.")
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(part).digest()).decode()
        return Response(206, headers, part)

    @staticmethod
    def _parse_range(request: Request, size: int) -> Optional[Tuple[int, int]]:
        """x-ms-range wins over Range; bytes=a-b or bytes=a-; 416 when a is past the end."""
        value = request.header("x-ms-range") or request.header("range")
        if not value:
            return None
        match = re.match(r"^bytes=(\d+)-(\d*)$", value.strip())
        if not match:
            return None  # Azure ignores a Range it cannot parse and returns the whole blob
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else max(first, size - 1)
        if last < first:
            return None
        if first >= size:
            raise StorageError(416, "InvalidRange", "The range specified is invalid for the current size of the resource.",
                               headers={"Content-Range": f"bytes */{size}"})
        return first, min(last, size - 1)

    def _blob_headers(self, blob: Blob, request: Request) -> Dict[str, str]:
        q = request.query
        headers = {
            "Last-Modified": http_date(blob.last_modified), "ETag": f'"{blob.etag}"',
            "Content-Type": q.get("rsct") or blob.content_type, "Accept-Ranges": "bytes",
            "x-ms-blob-type": "BlockBlob", "x-ms-creation-time": http_date(blob.created),
            "x-ms-lease-status": "unlocked", "x-ms-lease-state": "available",
            "x-ms-server-encrypted": "true",
        }
        if blob.tags:
            headers["x-ms-tag-count"] = str(len(blob.tags))
        optional = {"Content-Encoding": q.get("rsce") or blob.content_encoding,
                    "Content-Language": q.get("rscl") or blob.content_language,
                    "Cache-Control": q.get("rscc") or blob.cache_control,
                    "Content-Disposition": q.get("rscd") or blob.content_disposition}
        headers.update({k: v for k, v in optional.items() if v})
        if blob.content_md5 is not None:
            headers["Content-MD5"] = base64.b64encode(blob.content_md5).decode()
        headers.update(metadata_headers(blob.metadata))
        return headers

    def delete_blob(self, request: Request) -> Response:
        with self.store.lock:
            container = self.store.container(request.container)
            blob = container.get(request.blob)
            if blob is None:
                raise blob_not_found()
            check_conditions(request, blob.etag, is_read=False)
            container.delete(request.blob)
        return Response(202, {"x-ms-delete-type-permanent": "true"})


# --------------------------------------------------------------------------------------
# Run-time settings, fault injection and statistics (the admin API changes them).
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Settings:
    """Knobs a test may turn while the emulator runs (POST /__admin/config)."""

    latency_ms: float = 0.0
    fail_rate: float = 0.0
    fail_methods: List[str] = dataclasses.field(default_factory=list)  # empty: every method
    max_page: int = 0                                                 # 0: Azure's 5000
    retry_after: Optional[int] = None
    max_rps: float = 0.0  # 0: no limit; above it, 503 ServerBusy as an account over its limit
    start_from: str = "support"  # "reject": a service older than 2026-02-06; "ignore": old Azurite

    def update(self, changes: Dict[str, object]) -> None:
        """Applies all of `changes` or, when one is invalid, none of them."""
        trial = dataclasses.replace(self)
        trial._apply(changes)
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(trial, field.name))

    def _apply(self, changes: Dict[str, object]) -> None:
        for name, value in changes.items():
            if name not in {f.name for f in dataclasses.fields(self)}:
                raise ValueError(f"unknown setting {name!r}")
            if name == "fail_methods":
                value = _method_list(value)
            elif name in ("latency_ms", "fail_rate", "max_rps"):
                value = float(value)  # type: ignore[arg-type]
            elif name == "max_page":
                value = int(value)  # type: ignore[arg-type]
            elif name == "start_from":
                value = str(value)
            elif name == "retry_after":
                value = None if value is None else int(value)  # type: ignore[arg-type]
            setattr(self, name, value)
        self.validate()

    def validate(self) -> None:
        """Refuses values that would silently do something else than asked."""
        if self.latency_ms < 0 or not 0 <= self.fail_rate <= 1 or self.max_page < 0 or self.max_rps < 0:
            raise ValueError("need latency_ms >= 0, 0 <= fail_rate <= 1, max_page >= 0, max_rps >= 0")
        if self.start_from not in START_FROM_MODES:
            raise ValueError(f"start_from must be one of {', '.join(START_FROM_MODES)}")

    def fails(self, method: str, rng: random.Random) -> bool:
        applies = not self.fail_methods or method in self.fail_methods
        return applies and self.fail_rate > 0 and rng.random() < self.fail_rate


def _method_list(value) -> List[str]:
    if isinstance(value, str):
        value = value.split(",")
    return [str(m).strip().upper() for m in value if str(m).strip()]


class Stats:
    """Request counters for GET /__admin/stats (tests check retries against them)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.by_method: Dict[str, int] = {}
        self.by_operation: Dict[str, int] = {}
        self.by_status: Dict[str, int] = {}
        self.injected_failures = 0
        self.auth_failures = 0
        self.bytes_received = 0
        self.bytes_sent = 0
        self.by_client: Dict[str, int] = {}
        self.in_progress_by_client: Dict[str, int] = {}

    def begin(self, client: str) -> None:
        """A request from `client` arrived (admin requests are not counted)."""
        with self.lock:
            self.by_client[client] = self.by_client.get(client, 0) + 1
            self.in_progress_by_client[client] = self.in_progress_by_client.get(client, 0) + 1

    def end(self, client: str) -> None:
        """The request from `client` was answered (or its connection failed)."""
        with self.lock:
            left = self.in_progress_by_client.get(client, 0) - 1
            if left > 0:
                self.in_progress_by_client[client] = left
            else:
                self.in_progress_by_client.pop(client, None)

    def record(self, method: str, operation: str, status: int, received: int, sent: int,
               injected: bool = False) -> None:
        with self.lock:
            self.requests += 1
            self.by_method[method] = self.by_method.get(method, 0) + 1
            self.by_operation[operation] = self.by_operation.get(operation, 0) + 1
            self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1
            self.injected_failures += injected
            self.auth_failures += status in (401, 403) and not injected
            self.bytes_received += received
            self.bytes_sent += sent

    def snapshot(self) -> Dict[str, object]:
        with self.lock:
            return {"requests": self.requests, "by_method": dict(self.by_method),
                    "by_operation": dict(self.by_operation), "by_status": dict(self.by_status),
                    "injected_failures": self.injected_failures, "auth_failures": self.auth_failures,
                    "bytes_received": self.bytes_received, "bytes_sent": self.bytes_sent,
                    "by_client": dict(self.by_client),
                    "in_progress_by_client": dict(self.in_progress_by_client)}


# --------------------------------------------------------------------------------------
# HTTP layer.
# --------------------------------------------------------------------------------------


class Emulator:
    """Everything the request handler threads share."""

    def __init__(self, account: str, key: str, settings: Settings, seed: Optional[int]):
        self.account = account
        self.key = key
        self.settings = settings
        self.store = Store()
        self.stats = Stats()
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()
        self.admitted: "collections.deque[float]" = collections.deque()  # times of the last second's requests
        self.base_url = ""
        self.handlers = Handlers(self.store, settings, lambda: self.base_url)

    def should_fail(self, method: str) -> bool:
        with self.rng_lock:
            return self.settings.fails(method, self.rng)

    def over_rate(self) -> bool:
        """Whether this request exceeds `max_rps` (requests admitted in the last second)."""
        limit = self.settings.max_rps
        if limit <= 0:
            return False
        now = time.monotonic()
        with self.rng_lock:
            while self.admitted and now - self.admitted[0] >= 1.0:
                self.admitted.popleft()
            if len(self.admitted) >= limit:
                return True
            self.admitted.append(now)
            return False


class RequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive front end: parses, injects faults, authenticates, dispatches."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write, and Nagle is off: otherwise a small response
    # waits for the client's delayed ACK (40 ms) and throughput collapses to ~25/s/conn.
    disable_nagle_algorithm = True
    server_version = "blobferry-azure-emulator/1.0"

    def version_string(self) -> str:
        return self.server_version
    emulator: Emulator  # set on the subclass made by make_server
    verbose = False

    def do_GET(self):
        self._serve()

    do_PUT = do_HEAD = do_DELETE = do_POST = do_GET

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        if self.verbose:
            super().log_message(format, *args)

    # -- request reading -------------------------------------------------------------

    def _read_body(self) -> bytes:
        """The whole body (Content-Length or chunked), so keep-alive stays in sync even
        when the request is then refused."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _parse(self, body: bytes) -> Request:
        raw_path, _, raw_query = self.path.partition("?")
        query_multi: Dict[str, List[str]] = {}
        for pair in filter(None, raw_query.split("&")):
            name, _, value = pair.partition("=")
            query_multi.setdefault(unquote_plus(name).lower(), []).append(unquote_plus(value))
        headers: Dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        try:
            segments = unquote(raw_path, errors="strict").split("/", 3)
        except UnicodeDecodeError:
            raise StorageError(400, "InvalidUri", "The request URI is not valid UTF-8.") from None
        segments += [""] * (4 - len(segments))
        request = Request(method=self.command, raw_path=raw_path, raw_query=raw_query,
                          headers=headers, query={k: v[-1] for k, v in query_multi.items()},
                          query_multi=query_multi, account=segments[1], container=segments[2],
                          blob=segments[3], body=body, client_ip=self.client_address[0],
                          raw_headers=list(self.headers.items()))
        return request

    # -- dispatch --------------------------------------------------------------------

    def _serve(self) -> None:
        if self.path.startswith("/__admin/"):
            self._serve_one()
            return
        client = self.client_address[0]
        self.emulator.stats.begin(client)
        try:
            self._serve_one()
        finally:
            self.emulator.stats.end(client)

    def _serve_one(self) -> None:
        emulator = self.emulator
        request_id = str(uuid.uuid4())
        operation_name = "Unknown"
        body = b""
        try:
            body = self._read_body()
            if self.path.startswith("/__admin/"):
                self._send(self._admin(body), request_id)
                return
            if emulator.settings.latency_ms > 0:
                time.sleep(emulator.settings.latency_ms / 1000.0)
            if emulator.should_fail(self.command) or emulator.over_rate():
                self._send_error(self._server_busy(), request_id, "InjectedFailure", len(body), injected=True)
                return
            request = self._parse(body)
            self._check_version(request)
            operation = self._operation(request)
            operation_name = operation.name
            authenticate(request, operation, emulator.account, emulator.key)
            response = getattr(emulator.handlers, operation.handler)(request)
            response.headers.setdefault("x-ms-version", request.header("x-ms-version") or SERVICE_VERSION)
            if request.header("x-ms-client-request-id"):
                response.headers["x-ms-client-request-id"] = request.header("x-ms-client-request-id")
            sent = self._send(response, request_id)
            emulator.stats.record(self.command, operation_name, response.status, len(body), sent)
        except StorageError as error:
            self._send_error(error, request_id, operation_name, len(body))
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug here must not kill the connection silently
            if self.verbose:
                import traceback
                traceback.print_exc()
            self._send_error(StorageError(500, "InternalError", f"The server encountered an internal error: {exc!r}"),
                             request_id, operation_name, len(body))

    def _operation(self, request: Request) -> Operation:
        if request.account != self.emulator.account:
            raise StorageError(404, "ResourceNotFound",
                               f"The account '{request.account}' is not served here (path-style URLs: "
                               f"/{self.emulator.account}/container/blob).")
        if len(request.blob) > MAX_BLOB_NAME_CHARS:
            raise StorageError(400, "InvalidResourceName",
                               f"Blob names are at most {MAX_BLOB_NAME_CHARS} characters.")
        return classify(request.method, request.container, request.blob, request.query)

    def _check_version(self, request: Request) -> None:
        """With --start-from reject the emulator plays a service that predates 2026-02-06:
        Azure answers a version it does not know with 400 InvalidHeaderValue."""
        if self.emulator.settings.start_from == "reject" and request.header("x-ms-version") >= START_FROM_VERSION:
            raise StorageError(400, "InvalidHeaderValue",
                               "The value for one of the HTTP headers is not in the correct format.")

    def _server_busy(self) -> StorageError:
        headers = {}
        if self.emulator.settings.retry_after is not None:
            headers["Retry-After"] = str(self.emulator.settings.retry_after)
        return StorageError(503, "ServerBusy", "The server is currently unable to receive requests. "
                            "Please retry your request.", headers=headers)

    def _send_error(self, error: StorageError, request_id: str, operation: str, received: int,
                    injected: bool = False) -> None:
        headers = {"x-ms-error-code": error.code, "x-ms-version": SERVICE_VERSION}
        headers.update(error.headers)
        body = b""
        if error.status != 304:
            headers["Content-Type"] = "application/xml"
            body = error_body(error, request_id)
        sent = self._send(Response(error.status, headers, body), request_id)
        self.emulator.stats.record(self.command, operation, error.status, received, sent, injected)

    def _send(self, response: Response, request_id: str) -> int:
        """Writes the response with a correct Content-Length (none on 304; HEAD sends the
        headers of the GET it stands for, without the body). Returns body bytes sent."""
        self.send_response(response.status)
        self.send_header("x-ms-request-id", request_id)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status != 304 and "Content-Length" not in response.headers:
            self.send_header("Content-Length", str(len(response.body)))
        self._headers_buffer.append(b"\r\n")
        sends_body = self.command != "HEAD" and response.status != 304 and response.body
        if sends_body:
            self._headers_buffer.append(response.body)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []
        return len(response.body) if sends_body else 0

    # -- admin API -------------------------------------------------------------------

    def _admin(self, body: bytes) -> Response:
        """JSON API to change knobs at run time and read counters, for this host only:
        loopback, or the address the emulator listens on (a test that binds it to a bridge
        address for clients in network namespaces); those clients themselves are refused."""
        client = self.client_address[0]
        if not ipaddress.ip_address(client).is_loopback and client != self.server.server_address[0]:
            return Response(403, {"Content-Type": "application/json"}, b'{"error":"loopback only"}')
        path, settings = self.path.split("?")[0], self.emulator.settings
        if path == "/__admin/config" and self.command == "POST":
            try:
                settings.update(json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                return self._json(400, {"error": str(exc)})
            return self._json(200, dataclasses.asdict(settings))
        if path == "/__admin/config" and self.command == "GET":
            return self._json(200, dataclasses.asdict(settings))
        if path == "/__admin/stats" and self.command == "GET":
            return self._json(200, self.emulator.stats.snapshot())
        if path == "/__admin/stats/reset" and self.command == "POST":
            self.emulator.stats.reset()
            return self._json(200, self.emulator.stats.snapshot())
        return self._json(404, {"error": f"no admin endpoint {self.command} {path}"})

    @staticmethod
    def _json(status: int, value: object) -> Response:
        return Response(status, {"Content-Type": "application/json"}, json.dumps(value).encode())


class EmulatorServer(ThreadingHTTPServer):
    """Threaded server with daemon threads and a deep accept backlog (consumers open
    hundreds of connections at once)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True


def make_server(emulator: Emulator, host: str, port: int, verbose: bool = False) -> EmulatorServer:
    handler = type("BoundRequestHandler", (RequestHandler,), {"emulator": emulator, "verbose": verbose})
    server = EmulatorServer((host, port), handler)
    emulator.base_url = f"http://{host}:{server.server_address[1]}/{emulator.account}"
    return server


def write_port_file(path: str, port: int) -> None:
    """Atomic write, so a reader polling the file never sees it half written."""
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w") as handle:
        handle.write(f"{port}\n")
    os.replace(temporary, path)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="blobferry's Azure Blob Storage emulator (test fixture).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10000, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the listening port here once ready")
    parser.add_argument("--account", default=DEV_ACCOUNT)
    parser.add_argument("--key", default=DEV_KEY, help="base64 account key")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of requests answered 503 ServerBusy")
    parser.add_argument("--fail-methods", default="", help="comma list, e.g. GET (default: all)")
    parser.add_argument("--retry-after", type=int, default=None, help="Retry-After seconds on injected 503s")
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault injector")
    parser.add_argument("--max-page", type=int, default=0, help="page cap below Azure's 5000")
    parser.add_argument("--max-rps", type=float, default=0.0, help="503 ServerBusy above this many requests/s")
    parser.add_argument("--start-from", choices=START_FROM_MODES, default="support",
                        help="List Blobs' startFrom: honoured (2026-02-06 and later), rejected "
                             "(an older service: 400 to that version) or silently ignored")
    parser.add_argument("--synthetic", type=int, default=0, help="blobs in the synthetic container")
    parser.add_argument("--synthetic-prefix", default="",
                        help="put every synthetic name under this prefix (a skewed container)")
    parser.add_argument("--synthetic-container", default="synthetic")
    parser.add_argument("--synthetic-max-bytes", type=int, default=65536)
    parser.add_argument("--container", action="append", default=[], help="create this container at start")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    settings = Settings(latency_ms=args.latency_ms, fail_rate=args.fail_rate,
                        fail_methods=_method_list(args.fail_methods), max_page=args.max_page,
                        retry_after=args.retry_after, max_rps=args.max_rps, start_from=args.start_from)
    try:
        settings.validate()
    except ValueError as error:
        raise SystemExit(f"azure_emulator.py: {error}") from None
    emulator = Emulator(args.account, args.key, settings, args.seed)
    if args.synthetic > 0:
        emulator.store.containers[args.synthetic_container] = SyntheticContainer(
            args.synthetic_container, args.synthetic, args.synthetic_max_bytes, time.time(), args.synthetic_prefix)
    for name in args.container:
        emulator.store.containers.setdefault(name, Container(name, {}))
    server = make_server(emulator, args.host, args.port, args.verbose)
    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    print(f"azure emulator listening on {emulator.base_url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
