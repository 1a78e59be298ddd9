"""Checks scripts/azure_emulator.py against Microsoft's azure-storage-blob SDK.

The emulator stands in for Azure in every blobferry test, and the Swift Shared Key / SAS
signer is checked against it, so it must accept exactly what Azure accepts: these tests
drive it with the real SDK (which real Azure accepts) and with hand-built requests that
real Azure would refuse. Each test starts its own emulator process on a free port.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest
from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError,
                                   ResourceExistsError, ResourceNotFoundError)
from azure.storage.blob import (AccountSasPermissions, BlobClient, BlobSasPermissions,
                                BlobServiceClient, ContainerClient, ContainerSasPermissions,
                                ContentSettings, ResourceTypes, generate_account_sas,
                                generate_blob_sas, generate_container_sas)

EMULATOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "azure_emulator.py")
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
WRONG_KEY = base64.b64encode(b"not the key" * 6).decode()

AWKWARD_NAMES = [
    "plain.txt", "dir/sub/file.bin", "/leading-slash", "trailing/", "double//slash",
    "space in name", "plus+sign", "percent%25and%", "question?mark", "hash#tag",
    "amp&lt<gt>\"quote'", "unicode-\u00fc\u00e9\u65e5\u672c", "emoji-\U0001F600\U0001F680",
    "semi;colon,comma=eq", "tilde~star*bang!", "ctrl\x01char", "tab\there", "cr\rlf\n",
    "_underscore", "-dash", ".dot", "~tilde", " space-first", "\u00e9-first",
    "long/" + "L" * 500 + "\u00e9" * 300,  # 805 characters, 1105 UTF-8 bytes
]


class EmulatorProcess:
    """One emulator process on a free port, with the SDK clients tests need."""

    def __init__(self, *args: str):
        self.port_file = tempfile.NamedTemporaryFile(prefix="emu-port-", delete=False).name
        os.unlink(self.port_file)
        self.process = subprocess.Popen(
            [sys.executable, EMULATOR, "--port", "0", "--port-file", self.port_file, *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.port = self._wait_for_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def _wait_for_port(self) -> int:
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("emulator exited: " + self.process.stderr.read().decode())
            if os.path.exists(self.port_file):
                return int(open(self.port_file).read())
            time.sleep(0.02)
        raise RuntimeError("emulator did not write its port file within 15 s")

    def connection_string(self, key: str = KEY) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
                f"BlobEndpoint={self.endpoint};")

    def service(self, key: str = KEY, **kwargs) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(self.connection_string(key), **kwargs)

    def raw(self, method: str, path: str, body: bytes = b"", headers=None):
        """One request on a fresh connection: (status, headers, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def admin(self, method: str, path: str, payload=None):
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)


@pytest.fixture
def start_emulator():
    """Factory: start_emulator("--max-page", "3") -> a running EmulatorProcess."""
    started = []

    def start(*args: str) -> EmulatorProcess:
        emulator = EmulatorProcess(*args)
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(start_emulator) -> EmulatorProcess:
    return start_emulator()


def reference_sign(method: str, path: str, headers: dict, query: str = "", key: str = KEY,
                   resource_path: str | None = None) -> str:
    """An independent Shared Key signer (docs' rules), for hand-built requests: lets a
    test sign something deliberately wrong and see the emulator refuse it."""
    standard = ["Content-Encoding", "Content-Language", "Content-Length", "Content-MD5",
                "Content-Type", "Date", "If-Modified-Since", "If-Match", "If-None-Match",
                "If-Unmodified-Since", "Range"]
    lowered = {k.lower(): v for k, v in headers.items()}
    values = [lowered.get(h.lower(), "") for h in standard]
    if values[2] == "0":
        values[2] = ""
    ms_headers = "".join(f"{k}:{lowered[k]}\n" for k in sorted(lowered) if k.startswith("x-ms-"))
    resource = f"/{ACCOUNT}{resource_path if resource_path is not None else path}"
    for pair in sorted(p.split("=", 1) for p in query.split("&") if p):
        resource += f"\n{pair[0].lower()}:{urllib.request.unquote(pair[1])}"
    to_sign = method + "\n" + "\n".join(values) + "\n" + ms_headers + resource
    digest = hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()
    return f"SharedKey {ACCOUNT}:{base64.b64encode(digest).decode()}"


def signed_headers(extra=None) -> dict:
    headers = {"x-ms-date": email.utils.formatdate(usegmt=True), "x-ms-version": "2021-08-06"}
    headers.update(extra or {})
    return headers


# ---------------------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------------------


def test_container_lifecycle(emulator):
    service = emulator.service()
    container = service.create_container("lifecycle", metadata={"owner": "tests"})
    with pytest.raises(ResourceExistsError) as conflict:
        service.create_container("lifecycle")
    assert conflict.value.error_code == "ContainerAlreadyExists"
    assert container.get_container_properties().metadata == {"owner": "tests"}
    assert "lifecycle" in [c.name for c in service.list_containers()]
    container.delete_container()
    with pytest.raises(ResourceNotFoundError) as missing:
        container.get_container_properties()
    assert missing.value.error_code == "ContainerNotFound"


def test_invalid_container_name_is_refused(emulator):
    with pytest.raises(HttpResponseError) as refused:
        emulator.service().create_container("Bad_Name")
    assert refused.value.status_code == 400


# ---------------------------------------------------------------------------------------
# Blobs: upload, download, ranges, MD5
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", AWKWARD_NAMES, ids=lambda n: repr(n[:24]))
def test_upload_and_download_awkward_names(emulator, name):
    container = emulator.service().create_container("awkward")
    data = ("body of " + name).encode("utf-8") * 7
    container.upload_blob(name, data, metadata={"Source": "test", "n": "1"},
                          content_settings=ContentSettings(content_type="text/plain; charset=utf-8"))
    blob = container.get_blob_client(name)
    assert blob.download_blob().readall() == data
    properties = blob.get_blob_properties()
    assert properties.size == len(data)
    assert properties.metadata == {"Source": "test", "n": "1"}
    assert properties.content_settings.content_type == "text/plain; charset=utf-8"
    assert bytes(properties.content_settings.content_md5) == hashlib.md5(data).digest()
    assert properties.blob_type == "BlockBlob"
    blob.delete_blob()
    with pytest.raises(ResourceNotFoundError):
        blob.get_blob_properties()


def test_blob_name_limit_is_1024_characters(emulator):
    container = emulator.service().create_container("limits")
    container.upload_blob("n" * 1024, b"ok")
    with pytest.raises(HttpResponseError) as refused:
        container.upload_blob("n" * 1025, b"too long")
    assert refused.value.error_code == "InvalidResourceName"


def test_ranged_download_via_sdk_and_raw_request(emulator):
    container = emulator.service().create_container("ranges")
    data = bytes(range(256)) * 40
    container.upload_blob("r.bin", data)
    assert container.download_blob("r.bin", offset=100, length=50).readall() == data[100:150]
    assert container.download_blob("r.bin", offset=10000).readall() == data[10000:]

    path = f"/{ACCOUNT}/ranges/r.bin"
    headers = signed_headers({"x-ms-range": "bytes=5-9"})
    headers["Authorization"] = reference_sign("GET", path, headers)
    status, response_headers, body = emulator.raw("GET", path, headers=headers)
    assert (status, body) == (206, data[5:10])
    assert response_headers["Content-Range"] == f"bytes 5-9/{len(data)}"
    assert response_headers["x-ms-blob-content-md5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert "Content-MD5" not in response_headers

    headers = signed_headers({"Range": f"bytes={len(data)}-"})
    headers["Authorization"] = reference_sign("GET", path, headers)
    status, response_headers, body = emulator.raw("GET", path, headers=headers)
    assert status == 416
    assert response_headers["x-ms-error-code"] == "InvalidRange"


def test_empty_blob_downloads(emulator):
    container = emulator.service().create_container("empty")
    container.upload_blob("nothing", b"")
    assert container.download_blob("nothing").readall() == b""
    md5 = container.get_blob_client("nothing").get_blob_properties().content_settings.content_md5
    assert bytes(md5) == hashlib.md5(b"").digest()


def test_content_md5_mismatch_is_refused(emulator):
    container = emulator.service().create_container("md5")
    wrong = base64.b64encode(hashlib.md5(b"other bytes").digest()).decode()

    def corrupt_md5(request):
        request.http_request.headers["Content-MD5"] = wrong

    with pytest.raises(HttpResponseError) as refused:
        container.upload_blob("x", b"the real bytes", raw_request_hook=corrupt_md5)
    assert refused.value.error_code == "Md5Mismatch"
    assert refused.value.status_code == 400
    container.upload_blob("y", b"checked bytes", validate_content=True)
    assert container.download_blob("y", validate_content=True).readall() == b"checked bytes"


def test_block_upload_has_no_stored_md5_like_azure(emulator):
    service = emulator.service(max_single_put_size=1024, max_block_size=512)
    container = service.create_container("blocks")
    data = os.urandom(3000)
    container.upload_blob("big", data)
    assert container.download_blob("big").readall() == data
    assert container.get_blob_client("big").get_blob_properties().content_settings.content_md5 is None


def test_conditional_requests(emulator):
    container = emulator.service().create_container("cond")
    etag = container.upload_blob("c", b"v1").get_blob_properties().etag
    with pytest.raises(ResourceExistsError):
        container.upload_blob("c", b"v2", overwrite=False)
    from azure.core import MatchConditions
    with pytest.raises(HttpResponseError) as failed:
        container.get_blob_client("c").download_blob(etag='"0x8D000000000"', match_condition=MatchConditions.IfNotModified)
    assert failed.value.status_code == 412
    assert container.get_blob_client("c").download_blob(etag=etag, match_condition=MatchConditions.IfNotModified).readall() == b"v1"


def test_content_properties_round_trip_and_bodies_stay_encoded(emulator):
    from azure.storage.blob import ContentSettings
    import gzip
    container = emulator.service().create_container("props")
    body = gzip.compress(b"hello " * 100)
    settings = ContentSettings(content_type="text/plain", content_encoding="gzip", content_language="de-CH",
                               content_disposition='attachment; filename="a.txt"', cache_control="max-age=60")
    container.upload_blob("z", body, content_settings=settings, metadata={"Owner": "ops", "hdi_isfolder": "false"})
    properties = container.get_blob_client("z").get_blob_properties()
    assert properties.content_settings.content_encoding == "gzip"
    assert properties.content_settings.content_language == "de-CH"
    assert properties.content_settings.content_disposition == 'attachment; filename="a.txt"'
    assert properties.content_settings.cache_control == "max-age=60"
    assert properties.metadata == {"Owner": "ops", "hdi_isfolder": "false"}
    assert properties.last_modified is not None
    assert container.download_blob("z", decompress=False).readall() == body
    listed = next(iter(container.list_blobs(include=["metadata"])))
    assert listed.content_settings.content_encoding == "gzip"
    assert listed.content_settings.cache_control == "max-age=60"


def test_archived_blob_cannot_be_read_until_rehydrated(emulator):
    container = emulator.service().create_container("tiers")
    container.upload_blob("cold", b"frozen")
    blob = container.get_blob_client("cold")
    assert blob.get_blob_properties().blob_tier == "Hot"
    blob.set_standard_blob_tier("Archive")
    assert blob.get_blob_properties().blob_tier == "Archive"
    assert next(iter(container.list_blobs())).blob_tier == "Archive"
    with pytest.raises(HttpResponseError) as archived:
        blob.download_blob().readall()
    assert archived.value.status_code == 409
    assert archived.value.error_code == "BlobArchived"
    blob.set_standard_blob_tier("Cool")
    assert blob.download_blob().readall() == b"frozen"


def test_access_tier_comes_with_properties_and_listing_not_with_get_blob(emulator):
    container = emulator.service().create_container("tierheaders")
    container.upload_blob("cool", b"chilly")
    blob = container.get_blob_client("cool")
    blob.set_standard_blob_tier("Cool")
    assert blob.get_blob_properties().blob_tier == "Cool"
    downloaded = blob.download_blob()
    assert downloaded.readall() == b"chilly"
    assert downloaded.properties.blob_tier is None  # Get Blob has no x-ms-access-tier in Azure


def test_blob_index_tags_round_trip_and_are_counted(emulator):
    container = emulator.service().create_container("tags")
    container.upload_blob("tagged", b"body")
    blob = container.get_blob_client("tagged")
    assert blob.get_blob_tags() == {}
    assert blob.get_blob_properties().tag_count is None
    blob.set_blob_tags({"project": "alpha", "owner": "a b+c/d:e=f_g.h-i"})
    assert blob.get_blob_tags() == {"project": "alpha", "owner": "a b+c/d:e=f_g.h-i"}
    assert blob.get_blob_properties().tag_count == 2
    assert blob.download_blob().properties.tag_count == 2
    with pytest.raises(HttpResponseError) as invalid:
        blob.set_blob_tags({f"k{i}": "v" for i in range(11)})
    assert invalid.value.error_code == "InvalidTag"
    container.upload_blob("tagged", b"new body", overwrite=True)
    assert blob.get_blob_tags() == {}, "overwriting a blob drops its tags, as in Azure"


def test_missing_blob_and_container(emulator):
    service = emulator.service()
    container = service.create_container("present")
    with pytest.raises(ResourceNotFoundError) as missing_blob:
        container.download_blob("absent").readall()
    assert missing_blob.value.error_code == "BlobNotFound"
    with pytest.raises(ResourceNotFoundError) as missing_container:
        service.get_container_client("absent").download_blob("x").readall()
    assert missing_container.value.error_code == "ContainerNotFound"


# ---------------------------------------------------------------------------------------
# Listing
# ---------------------------------------------------------------------------------------


def test_paged_listing_returns_every_name_once_in_utf8_order(emulator):
    container = emulator.service().create_container("listing")
    names = AWKWARD_NAMES + [f"bulk/{i:03d}" for i in range(40)]
    for index, name in enumerate(names):
        container.upload_blob(name, name.encode(), metadata={"index": str(index)})
    pages = list(container.list_blobs(include=["metadata"], results_per_page=7).by_page())
    listed = [blob for page in pages for blob in page]
    assert [b.name for b in listed] == sorted(names, key=lambda n: n.encode("utf-8"))
    assert len(pages) == -(-len(names) // 7)
    for blob in listed:
        assert blob.metadata == {"index": str(names.index(blob.name))}
        assert blob.size == len(blob.name.encode())
        assert bytes(blob.content_settings.content_md5) == hashlib.md5(blob.name.encode()).digest()
        assert blob.etag and blob.last_modified and blob.blob_type == "BlockBlob"
    assert [b.name for b in container.list_blobs(name_starts_with="bulk/01")] == [f"bulk/{i:03d}" for i in range(10, 20)]


def test_listing_resumes_from_a_saved_marker(emulator):
    container = emulator.service().create_container("resume")
    names = [f"k{i:02d}" for i in range(20)]
    for name in names:
        container.upload_blob(name, b"")
    pages = container.list_blobs(results_per_page=6).by_page()
    first = [b.name for b in next(pages)]
    marker = pages.continuation_token
    resumed = [b.name for page in container.list_blobs(results_per_page=6).by_page(continuation_token=marker)
               for b in page]
    assert first + resumed == names


def test_delimiter_listing_groups_prefixes(emulator):
    container = emulator.service().create_container("tree")
    for name in ["a/1", "a/2", "a/b/3", "c", "d/4"]:
        container.upload_blob(name, b"x")
    # The SDK yields a page's prefixes before its blobs, so compare as sets.
    top = {item.name for item in container.walk_blobs(delimiter="/")}
    assert top == {"a/", "c", "d/"}
    assert {item.name for item in container.walk_blobs(name_starts_with="a/", delimiter="/")} == {"a/1", "a/2", "a/b/"}
    # On the wire, Azure's order: a prefix and blobs interleaved by name, one page at a time.
    status, _, body = _signed_list(emulator, "tree", "delimiter=%2F&restype=container&comp=list&maxresults=2")
    assert status == 200
    assert body.index(b"<BlobPrefix><Name>a/</Name></BlobPrefix>") < body.index(b"<Blob><Name>c</Name>")
    assert b"<NextMarker>2!" in body


def _signed_list(emulator, container: str, query: str):
    path = f"/{ACCOUNT}/{container}"
    headers = signed_headers()
    headers["Authorization"] = reference_sign("GET", path, headers, query)
    return emulator.raw("GET", f"{path}?{query}", headers=headers)


def test_start_from_lists_from_a_name_on_and_the_switch_rejects_or_ignores_it(emulator):
    container = emulator.service().create_container("startfrom")
    names = ["!x", "0a", "9z", ":c", "A1", "Zz", "_u", "a1", "z9", "~t", "\u00e9t\u00e9"]
    for name in names:
        container.upload_blob(name, b"")
    in_order = sorted(names, key=lambda n: n.encode("utf-8"))
    # The SDK sends startFrom with its own (newer than 2026-02-06) version: inclusive.
    assert [b.name for b in container.list_blobs(start_from=":c")] == in_order[in_order.index(":c"):]
    assert [b.name for b in container.list_blobs(start_from="[")] == ["_u", "a1", "z9", "~t", "\u00e9t\u00e9"]
    assert [b.name for b in container.list_blobs(name_starts_with="a", start_from="a2")] == []
    # A version older than 2026-02-06 does not know the parameter: ignored.
    headers = signed_headers()
    headers["x-ms-version"] = "2025-11-05"
    query = "comp=list&restype=container&startFrom=z"
    headers["Authorization"] = reference_sign("GET", f"/{ACCOUNT}/startfrom", headers, query)
    status, _, body = emulator.raw("GET", f"/{ACCOUNT}/startfrom?{query}", headers=headers)
    assert status == 200 and b"<Name>!x</Name>" in body
    assert emulator.admin("POST", "/__admin/config", {"start_from": "ignore"})["start_from"] == "ignore"
    assert [b.name for b in container.list_blobs(start_from="[")] == in_order
    emulator.admin("POST", "/__admin/config", {"start_from": "reject"})
    with pytest.raises(HttpResponseError) as refused:
        list(container.list_blobs(start_from="["))
    assert refused.value.status_code == 400 and refused.value.error_code == "InvalidHeaderValue"
    emulator.admin("POST", "/__admin/config", {"start_from": "support"})
    assert [b.name for b in container.list_blobs(start_from="~")] == ["~t", "\u00e9t\u00e9"]


def test_max_page_caps_pages_and_admin_can_change_it(start_emulator):
    emulator = start_emulator("--max-page", "3")
    container = emulator.service().create_container("capped")
    for i in range(10):
        container.upload_blob(f"b{i}", b"")
    assert [len(list(p)) for p in container.list_blobs(results_per_page=100).by_page()] == [3, 3, 3, 1]
    assert emulator.admin("POST", "/__admin/config", {"max_page": 4})["max_page"] == 4
    assert [len(list(p)) for p in container.list_blobs().by_page()] == [4, 4, 2]


# ---------------------------------------------------------------------------------------
# Authentication: Shared Key details, SAS
# ---------------------------------------------------------------------------------------


def test_wrong_key_is_authentication_failed(emulator):
    emulator.service().create_container("secure")
    with pytest.raises(ClientAuthenticationError) as refused:
        emulator.service(key=WRONG_KEY).get_container_client("secure").get_container_properties()
    assert refused.value.status_code == 403
    assert refused.value.error_code == "AuthenticationFailed"


def test_request_without_credentials_is_refused(emulator):
    status, headers, body = emulator.raw("GET", f"/{ACCOUNT}?comp=list")
    assert status == 401
    assert headers["x-ms-error-code"] == "NoAuthenticationInformation"
    assert b"<Code>NoAuthenticationInformation</Code>" in body


def test_shared_key_canonical_resource_repeats_the_account_and_keeps_encoding(emulator):
    emulator.service().create_container("canon").upload_blob("a b+c", b"payload")
    path = f"/{ACCOUNT}/canon/{quote('a b+c')}"
    good = signed_headers()
    good["Authorization"] = reference_sign("GET", path, good)
    assert emulator.raw("GET", path, headers=good)[0] == 200

    single_account = signed_headers()
    single_account["Authorization"] = reference_sign("GET", path, single_account,
                                                     resource_path=path[len(ACCOUNT) + 1:])
    status, headers, body = emulator.raw("GET", path, headers=single_account)
    assert (status, headers["x-ms-error-code"]) == (403, "AuthenticationFailed")
    assert b"AuthenticationErrorDetail" in body

    decoded_path = signed_headers()
    decoded_path["Authorization"] = reference_sign("GET", path, decoded_path,
                                                   resource_path=f"/{ACCOUNT}/canon/a b+c")
    assert emulator.raw("GET", path, headers=decoded_path)[0] == 403


def test_shared_key_header_collation_and_untrimmed_values_match_the_sdk(emulator):
    """The service sorts x-ms-* headers culture-aware ('_' < digits < letters, '-' ignored)
    and the SDK signs header values untrimmed; both must verify."""
    container = emulator.service().create_container("collation")
    metadata = {"a_b": "3", "a1": "4", "aa": "5", "ab": "1", "Z9": "6", "owner": "Alice  Smith "}
    container.upload_blob("m", b"x", metadata=metadata)
    assert container.get_blob_client("m").get_blob_properties().metadata["a_b"] == "3"


def test_shared_key_query_and_stale_date(emulator):
    emulator.service().create_container("query")
    path, query = f"/{ACCOUNT}/query", "restype=container&comp=list&maxresults=2&prefix=a%2Bb"
    headers = signed_headers()
    headers["Authorization"] = reference_sign("GET", path, headers, query)
    assert emulator.raw("GET", f"{path}?{query}", headers=headers)[0] == 200

    stale = signed_headers({"x-ms-date": email.utils.formatdate(time.time() - 3600, usegmt=True)})
    stale["Authorization"] = reference_sign("GET", path, stale, query)
    status, headers, _ = emulator.raw("GET", f"{path}?{query}", headers=stale)
    assert (status, headers["x-ms-error-code"]) == (403, "AuthenticationFailed")


def _expiry(hours: float = 1) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=hours)


def test_blob_sas_grants_exactly_its_permissions(emulator):
    container = emulator.service().create_container("sas")
    container.upload_blob("doc name.txt", b"shared")
    container.upload_blob("other", b"not shared")
    sas = generate_blob_sas(ACCOUNT, "sas", "doc name.txt", account_key=KEY,
                            permission=BlobSasPermissions(read=True), expiry=_expiry())
    blob = BlobClient(emulator.endpoint, "sas", "doc name.txt", credential=sas)
    assert blob.download_blob().readall() == b"shared"
    with pytest.raises(HttpResponseError) as denied:
        blob.upload_blob(b"overwrite", overwrite=True)
    assert denied.value.error_code == "AuthorizationPermissionMismatch"
    other = BlobClient(emulator.endpoint, "sas", "other", credential=sas)
    with pytest.raises(ClientAuthenticationError):
        other.download_blob().readall()


def test_expired_or_tampered_sas_is_refused(emulator):
    container = emulator.service().create_container("sas2")
    container.upload_blob("b", b"data")
    expired = generate_blob_sas(ACCOUNT, "sas2", "b", account_key=KEY,
                                permission=BlobSasPermissions(read=True), expiry=_expiry(-1))
    with pytest.raises(ClientAuthenticationError) as refused:
        BlobClient(emulator.endpoint, "sas2", "b", credential=expired).download_blob().readall()
    assert refused.value.error_code == "AuthenticationFailed"
    wrong_key = generate_blob_sas(ACCOUNT, "sas2", "b", account_key=WRONG_KEY,
                                  permission=BlobSasPermissions(read=True), expiry=_expiry())
    with pytest.raises(ClientAuthenticationError):
        BlobClient(emulator.endpoint, "sas2", "b", credential=wrong_key).download_blob().readall()


def test_container_sas_lists_and_reads(emulator):
    container = emulator.service().create_container("csas")
    for name in ["one", "two/three"]:
        container.upload_blob(name, name.encode())
    sas = generate_container_sas(ACCOUNT, "csas", account_key=KEY,
                                 permission=ContainerSasPermissions(read=True, list=True), expiry=_expiry())
    client = ContainerClient(emulator.endpoint, "csas", credential=sas)
    assert [b.name for b in client.list_blobs()] == ["one", "two/three"]
    assert client.download_blob("two/three").readall() == b"two/three"
    with pytest.raises(HttpResponseError) as denied:
        client.upload_blob("new", b"x")
    assert denied.value.error_code == "AuthorizationPermissionMismatch"


def test_account_sas(emulator):
    emulator.service().create_container("asas").upload_blob("k", b"v")
    sas = generate_account_sas(ACCOUNT, KEY, resource_types=ResourceTypes(container=True, object=True),
                               permission=AccountSasPermissions(read=True, list=True, write=True, create=True),
                               expiry=_expiry())
    service = BlobServiceClient(emulator.endpoint, credential=sas)
    container = service.get_container_client("asas")
    assert [b.name for b in container.list_blobs()] == ["k"]
    container.upload_blob("k2", b"v2")
    assert container.download_blob("k2").readall() == b"v2"
    with pytest.raises(HttpResponseError) as denied:
        service.list_containers().next()
    assert denied.value.error_code == "AuthorizationResourceTypeMismatch"
    with pytest.raises(HttpResponseError) as no_delete:
        container.delete_blob("k")
    assert no_delete.value.error_code == "AuthorizationPermissionMismatch"


# ---------------------------------------------------------------------------------------
# Synthetic container, fault injection, admin API, HTTP behaviour
# ---------------------------------------------------------------------------------------


def test_synthetic_container_lists_and_serves_consistent_blobs(start_emulator):
    emulator = start_emulator("--synthetic", "2000", "--synthetic-container", "synth")
    container = emulator.service().get_container_client("synth")
    blobs = list(container.list_blobs(include=["metadata"]))
    names = [b.name for b in blobs]
    assert len(names) == 2000 == len(set(names))
    assert names == sorted(names, key=lambda n: n.encode("utf-8"))
    first_characters = {n[0] for n in names}
    expected = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    assert expected <= first_characters
    assert {"_", "-", ".", "~", " "} <= first_characters
    assert any(ord(c) > 127 for c in first_characters)
    for blob in blobs[::97]:
        data = container.download_blob(blob.name).readall()
        assert len(data) == blob.size
        assert hashlib.md5(data).digest() == bytes(blob.content_settings.content_md5)
    by_prefix = [b.name for b in container.list_blobs(name_starts_with="a")]
    assert by_prefix == [n for n in names if n.startswith("a")]
    with pytest.raises(HttpResponseError):
        container.upload_blob("new", b"read-only")


def test_injected_server_busy(start_emulator):
    emulator = start_emulator("--fail-rate", "1", "--fail-methods", "GET", "--retry-after", "2")
    status, headers, body = emulator.raw("GET", f"/{ACCOUNT}/any/blob")
    assert status == 503
    assert headers["x-ms-error-code"] == "ServerBusy"
    assert headers["Retry-After"] == "2"
    assert b"<Code>ServerBusy</Code>" in body
    assert int(headers["Content-Length"]) == len(body)
    assert emulator.raw("PUT", f"/{ACCOUNT}/any?restype=container")[0] == 401  # PUT not injected
    stats = emulator.admin("GET", "/__admin/stats")
    assert stats["injected_failures"] == 1
    emulator.admin("POST", "/__admin/config", {"fail_rate": 0})
    assert emulator.raw("GET", f"/{ACCOUNT}/any/blob")[0] == 401


def test_admin_latency_and_stats(emulator):
    emulator.admin("POST", "/__admin/config", {"latency_ms": 150})
    started = time.time()
    emulator.raw("GET", f"/{ACCOUNT}?comp=list")
    assert time.time() - started >= 0.14
    stats = emulator.admin("GET", "/__admin/stats")
    assert stats["requests"] == 1 and stats["by_status"] == {"401": 1}
    assert stats["by_client"] == {"127.0.0.1": 1} and stats["in_progress_by_client"] == {}
    assert emulator.admin("POST", "/__admin/stats/reset")["requests"] == 0


def test_stats_count_requests_in_progress_per_client(emulator):
    """A request counts as in progress from its arrival until its answer (the network
    namespace test reads this to know a consumer has copies in flight)."""
    emulator.admin("POST", "/__admin/config", {"latency_ms": 600})
    slow = threading.Thread(target=emulator.raw, args=("GET", f"/{ACCOUNT}?comp=list"))
    slow.start()
    deadline = time.time() + 5
    seen = {}
    while time.time() < deadline and not seen:
        seen = emulator.admin("GET", "/__admin/stats")["in_progress_by_client"]
        time.sleep(0.02)
    slow.join(timeout=10)
    assert seen == {"127.0.0.1": 1}
    stats = emulator.admin("GET", "/__admin/stats")
    assert stats["in_progress_by_client"] == {} and stats["by_client"] == {"127.0.0.1": 1}


def test_admin_refuses_invalid_settings_whole(emulator):
    with pytest.raises(urllib.error.HTTPError) as refused:
        emulator.admin("POST", "/__admin/config", {"latency_ms": 10, "fail_rate": 2})
    assert refused.value.code == 400
    assert emulator.admin("GET", "/__admin/config")["latency_ms"] == 0  # nothing applied


def test_keep_alive_with_errors_heads_and_bodies(emulator):
    emulator.service().create_container("keep").upload_blob("k", b"12345")
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
    path = f"/{ACCOUNT}/keep/k"
    for method, body in [("PUT", b"refused body"), ("HEAD", b""), ("GET", b""), ("DELETE", b"")]:
        headers = {}
        if method == "HEAD" or method == "GET":
            headers = signed_headers()
            headers["Authorization"] = reference_sign(method, path, headers)
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        if method == "GET":
            assert (response.status, payload) == (200, b"12345")
        elif method == "HEAD":
            assert response.status == 200 and response.getheader("Content-Length") == "5"
        else:
            assert response.status == 401 and len(payload) == int(response.getheader("Content-Length"))
    connection.close()
