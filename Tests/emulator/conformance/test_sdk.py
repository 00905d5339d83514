"""Microsoft's azure-storage-blob SDK against the emulator."""

import base64
import datetime as dt
import hashlib
import os
import xml.etree.ElementTree as ET

import pytest
from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ResourceExistsError,
                                   ResourceModifiedError, ResourceNotFoundError)
from azure.core.pipeline import PipelineRequest, PipelineContext
from azure.core.rest import HttpRequest
from azure.storage.blob import (AccountSasPermissions, BlobBlock, BlobClient, BlobSasPermissions,
                                BlobServiceClient, ContainerClient, ContainerSasPermissions, ContentSettings,
                                ExponentialRetry, ResourceTypes, generate_account_sas, generate_blob_sas,
                                generate_container_sas)
from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

from conftest import ACCOUNT, BEARER, KEY, SECOND_ACCOUNT, SECOND_KEY, azblob_emulator



class _FastRetry(dict):
    """Client kwargs with a quick retry policy. A fresh policy object per client: azure-core links
    policies into a chain, so one policy instance shared by two clients silently crosses their
    pipelines (the second client's transport/credential ends up behind the first one's retry)."""

    def keys(self):
        return ["retry_policy"]

    def __getitem__(self, key):
        return ExponentialRetry(initial_backoff=0, increment_base=0, retry_total=3, random_jitter_range=0)


FAST_RETRY = _FastRetry()


def md5b(data):
    return hashlib.md5(data).digest()


@pytest.fixture
def svc(emu):
    return BlobServiceClient.from_connection_string(emu.connection_string(), **FAST_RETRY)


@pytest.fixture
def chunky(emu):
    """A client that uses Put Block + Put Block List for anything over 4 KiB and ranged GETs of 2 KiB."""
    return BlobServiceClient.from_connection_string(
        emu.connection_string(), max_single_put_size=4096, max_block_size=1024,
        max_single_get_size=2048, max_chunk_get_size=2048, **FAST_RETRY)


@pytest.fixture
def container(svc, name):
    c = svc.get_container_client(name)
    c.create_container()
    yield c
    try:
        c.delete_container()
    except ResourceNotFoundError:
        pass


def test_create_container_twice_conflicts(svc, name):
    c = svc.create_container(name)
    with pytest.raises(ResourceExistsError) as ei:
        svc.create_container(name)
    assert ei.value.error_code == "ContainerAlreadyExists"
    props = c.get_container_properties()
    assert props.name == name and props.etag.startswith('"')
    c.delete_container()
    with pytest.raises(ResourceNotFoundError) as ei:
        c.get_container_properties()
    assert ei.value.error_code == "ContainerNotFound"


def test_invalid_container_name_rejected(svc):
    with pytest.raises(HttpResponseError) as ei:
        svc.create_container("ab")
    assert ei.value.status_code == 400 and ei.value.error_code == "InvalidResourceName"


def test_small_upload_roundtrip_and_properties(container):
    data = b"hello, blockyard\n" * 10
    b = container.upload_blob("dir/small.txt", data, validate_content=True,
                              content_settings=ContentSettings(content_type="text/plain"),
                              metadata={"origin": "test"})
    assert b.download_blob().readall() == data
    p = b.get_blob_properties()
    assert p.size == len(data)
    assert p.blob_type == "BlockBlob"
    assert bytes(p.content_settings.content_md5) == md5b(data)
    assert p.content_settings.content_type == "text/plain"
    assert p.metadata == {"origin": "test"}
    assert p.etag.startswith('"') and p.etag.endswith('"')
    assert isinstance(p.last_modified, dt.datetime)
    etag1 = p.etag
    b.upload_blob(b"new", overwrite=True)
    assert b.get_blob_properties().etag != etag1


def test_chunked_upload_uses_blocks(emu, chunky, name):
    c = chunky.create_container(name)
    data = os.urandom(10 * 1024 + 17)
    before = emu.stats()["requests"]
    c.upload_blob("big/blob.bin", data, validate_content=True, max_concurrency=4)
    after = emu.stats()["requests"]
    put_blocks = after.get("PutBlock", 0) - before.get("PutBlock", 0)
    assert put_blocks == 11
    assert after.get("PutBlockList", 0) - before.get("PutBlockList", 0) == 1
    b = c.get_blob_client("big/blob.bin")
    assert b.download_blob().readall() == data
    assert b.download_blob(validate_content=True).readall() == data  # ranged GETs with range MD5
    committed, uncommitted = b.get_block_list("all")
    assert len(committed) == 11 and not uncommitted
    assert sum(x.size for x in committed) == len(data)
    # A block list blob has no Content-MD5 unless the client sends x-ms-blob-content-md5 ...
    assert b.get_blob_properties().content_settings.content_md5 is None
    # ... which the SDK does when content_settings carries one.
    c.upload_blob("big/with-md5.bin", data, overwrite=True,
                  content_settings=ContentSettings(content_md5=bytearray(md5b(data))))
    p = c.get_blob_client("big/with-md5.bin").get_blob_properties()
    assert bytes(p.content_settings.content_md5) == md5b(data)
    c.delete_container()


def test_ranged_downloads(container):
    data = bytes(range(256)) * 40
    b = container.upload_blob("r.bin", data)
    assert b.download_blob(offset=0, length=1).readall() == data[:1]
    assert b.download_blob(offset=100, length=1000).readall() == data[100:1100]
    assert b.download_blob(offset=len(data) - 5).readall() == data[-5:]
    assert b.download_blob(offset=5000, length=10 ** 9).readall() == data[5000:]
    with pytest.raises(HttpResponseError) as ei:
        b.download_blob(offset=len(data), length=10).readall()
    assert ei.value.status_code == 416 and ei.value.error_code == "InvalidRange"


def test_empty_blob(emu, container):
    b = container.upload_blob("empty", b"")
    assert b.download_blob().readall() == b""  # SDK's ranged first GET gets 416, then a plain GET
    assert b.get_blob_properties().size == 0
    r, body = emu.raw("GET", "/%s/%s/empty" % (ACCOUNT, container.container_name),
                      {"x-ms-range": "bytes=0-99"})
    assert r.status == 416 and r.getheader("x-ms-error-code") == "InvalidRange"
    r, body = emu.raw("GET", "/%s/%s/empty" % (ACCOUNT, container.container_name), {"Range": "bytes=0-"})
    assert r.status == 416


def test_list_prefix_delimiter_and_paging(svc, container):
    names = ["a/1", "a/2", "a/b/3", "b/4", "c", "d/e/f/5", "dz"]
    for n in names:
        container.upload_blob(n, n.encode(), metadata={"n": n.replace("/", "_")})
    assert [b.name for b in container.list_blobs()] == names
    assert [b.name for b in container.list_blobs(name_starts_with="a/")] == ["a/1", "a/2", "a/b/3"]
    # (the SDK's walk_blobs yields a page's BlobPrefix entries before its Blob entries)
    top = sorted(b.name for b in container.walk_blobs())
    assert top == ["a/", "b/", "c", "d/", "dz"]
    assert sorted(b.name for b in container.walk_blobs(name_starts_with="a/")) == ["a/1", "a/2", "a/b/"]
    # walk_blobs recursion via BlobPrefix
    flat = []

    def walk(prefix):
        for item in container.walk_blobs(name_starts_with=prefix):
            if item.name.endswith("/") and item.name != prefix:
                walk(item.name)
            else:
                flat.append(item.name)
    walk("")
    assert sorted(flat) == names
    # paging: 3 per page -> 3 pages, continuation tokens returned and honoured
    pages = list(container.list_blobs(results_per_page=3).by_page())
    sizes = [len(list(p)) for p in pages]
    assert sizes == [3, 3, 1]
    pager = container.list_blobs(results_per_page=2).by_page()
    first = [b.name for b in next(pager)]
    token = pager.continuation_token
    assert first == ["a/1", "a/2"] and token
    rest = [b.name for p in container.list_blobs(results_per_page=2).by_page(continuation_token=token)
            for b in p]
    assert rest == names[2:]
    # delimiter + paging: prefixes count towards maxresults and are not repeated across pages
    walked = [b.name for p in container.walk_blobs(results_per_page=2).by_page() for b in p]
    assert sorted(walked) == top and len(walked) == len(top)
    md = {b.name: b.metadata for b in container.list_blobs(include=["metadata"])}
    assert md["a/b/3"] == {"n": "a_b_3"}


def test_list_containers_paging(svc):
    prefix = "pg" + os.urandom(4).hex()
    made = [prefix + "-%02d" % i for i in range(5)]
    for n in made:
        svc.create_container(n)
    got = [c.name for c in svc.list_containers(name_starts_with=prefix)]
    assert got == made
    pages = list(svc.list_containers(name_starts_with=prefix, results_per_page=2).by_page())
    assert [len(list(p)) for p in pages] == [2, 2, 1]
    for n in made:
        svc.delete_container(n)


def test_not_found_errors(svc, container):
    b = container.get_blob_client("missing")
    with pytest.raises(ResourceNotFoundError) as ei:
        b.get_blob_properties()
    assert ei.value.error_code == "BlobNotFound"
    with pytest.raises(ResourceNotFoundError):
        b.download_blob().readall()
    with pytest.raises(ResourceNotFoundError):
        b.delete_blob()
    with pytest.raises(ResourceNotFoundError) as ei:
        svc.get_container_client("nosuchcontainer").get_blob_client("x").upload_blob(b"x")
    assert ei.value.error_code == "ContainerNotFound"
    x = container.upload_blob("x", b"x")
    x.delete_blob()
    assert not x.exists()


def test_conditional_requests(container, chunky):
    b = container.upload_blob("cond", b"one")
    with pytest.raises(ResourceExistsError) as ei:
        container.upload_blob("cond", b"two", overwrite=False)
    assert ei.value.error_code == "BlobAlreadyExists"
    # chunked path: the If-None-Match:* goes on Put Block List
    cc = chunky.get_container_client(container.container_name)
    with pytest.raises(ResourceExistsError):
        cc.upload_blob("cond", os.urandom(9000), overwrite=False)
    assert b.download_blob().readall() == b"one"
    etag = b.get_blob_properties().etag
    with pytest.raises(ResourceModifiedError) as ei:
        b.upload_blob(b"three", overwrite=True, etag='"0x1"', match_condition=_MC.IfNotModified)
    assert ei.value.status_code == 412 and ei.value.error_code == "ConditionNotMet"
    b.upload_blob(b"four", overwrite=True, etag=etag, match_condition=_MC.IfNotModified)
    etag2 = b.get_blob_properties().etag
    assert etag2 != etag
    # Azure answers 304 with x-ms-error-code: ConditionNotMet; the SDK maps that error code to
    # ResourceModifiedError even for a 304, so only the status code is reliable here.
    with pytest.raises(HttpResponseError) as ei:
        b.download_blob(etag=etag2, match_condition=_MC.IfModified).readall()
    assert ei.value.status_code == 304
    with pytest.raises(ResourceModifiedError):
        b.download_blob(etag=etag, match_condition=_MC.IfNotModified).readall()
    with pytest.raises(ResourceModifiedError):
        b.delete_blob(etag=etag, match_condition=_MC.IfNotModified)
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    with pytest.raises(HttpResponseError) as ei:
        b.get_blob_properties(if_modified_since=future)
    assert ei.value.status_code == 304
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    with pytest.raises(ResourceModifiedError):
        b.upload_blob(b"five", overwrite=True, if_unmodified_since=past)
    b.delete_blob(etag=etag2, match_condition=_MC.IfNotModified)


from azure.core import MatchConditions as _MC  # noqa: E402


def test_put_block_and_block_list_errors(container):
    b = container.get_blob_client("blocks")
    b.stage_block(base64.b64encode(b"id-0001").decode(), b"aaa")
    with pytest.raises(HttpResponseError) as ei:
        b.stage_block(base64.b64encode(b"id-02").decode(), b"bbb")  # different id length
    assert ei.value.status_code == 400 and ei.value.error_code == "InvalidBlobOrBlock"
    with pytest.raises(HttpResponseError) as ei:
        b.commit_block_list([BlobBlock(block_id=base64.b64encode(b"id-9999").decode())])
    assert ei.value.error_code == "InvalidBlockList"
    assert not b.exists()  # uncommitted blocks do not make a blob
    b.stage_block(base64.b64encode(b"id-0002").decode(), b"bbb")
    b.commit_block_list([BlobBlock(block_id=base64.b64encode(b"id-0002").decode()),
                         BlobBlock(block_id=base64.b64encode(b"id-0001").decode())])
    assert b.download_blob().readall() == b"bbbaaa"
    # re-commit referencing committed blocks only
    b.commit_block_list([BlobBlock(block_id=base64.b64encode(b"id-0001").decode())])
    assert b.download_blob().readall() == b"aaa"


def test_md5_mismatch_and_raw_error_shape(emu, container):
    path = "/%s/%s/md5" % (ACCOUNT, container.container_name)
    r, body = emu.raw("PUT", path, {"x-ms-blob-type": "BlockBlob",
                                    "Content-MD5": base64.b64encode(md5b(b"other")).decode()}, b"data")
    assert r.status == 400 and r.getheader("x-ms-error-code") == "Md5Mismatch"
    root = ET.fromstring(body)
    assert root.tag == "Error" and root.findtext("Code") == "Md5Mismatch" and root.findtext("Message")
    assert int(r.getheader("Content-Length")) == len(body)
    assert r.getheader("x-ms-request-id") and r.getheader("Date")
    assert r.getheader("x-ms-version") == "2021-12-02"
    r, body = emu.raw("PUT", path + "?comp=block&blockid=" + "QUJD",
                      {"Content-MD5": base64.b64encode(md5b(b"zz")).decode()}, b"data")
    assert r.status == 400 and r.getheader("x-ms-error-code") == "Md5Mismatch"
    r, body = emu.raw("PUT", path, {"x-ms-blob-type": "BlockBlob",
                                    "Content-MD5": base64.b64encode(md5b(b"data")).decode()}, b"data")
    assert r.status == 201 and r.getheader("Content-MD5") == base64.b64encode(md5b(b"data")).decode()
    r, body = emu.raw("PUT", path, {"x-ms-blob-type": "BlockBlob", "If-None-Match": "*"}, b"again")
    assert r.status == 409 and r.getheader("x-ms-error-code") == "BlobAlreadyExists"
    r, body = emu.raw("HEAD", path + "-missing")
    assert r.status == 404 and r.getheader("x-ms-error-code") == "BlobNotFound" and body == b""
    assert r.getheader("Content-Length") is not None
    r, body = emu.raw("GET", path, {"x-ms-range": "bytes=1-2", "x-ms-range-get-content-md5": "true"})
    assert r.status == 206 and body == b"at" and r.getheader("Content-Range") == "bytes 1-2/4"
    assert r.getheader("Content-MD5") == base64.b64encode(md5b(b"at")).decode()
    r, body = emu.raw("GET", path, {"Range": "bytes=2-"})
    assert r.status == 206 and body == b"ta"
    r, body = emu.raw("GET", path)
    assert r.status == 200 and r.getheader("Content-MD5") == base64.b64encode(md5b(b"data")).decode()


def test_percent_encoded_names(container):
    for n in ["sp ace/ü.bin", "we%ird+name&x=y", "q?uest#ion", "01/chunks/000001"]:
        container.upload_blob(n, n.encode())
        assert container.download_blob(n).readall() == n.encode()
    assert sorted(b.name for b in container.list_blobs()) == sorted(
        ["sp ace/ü.bin", "we%ird+name&x=y", "q?uest#ion", "01/chunks/000001"])


def test_sas_tokens(emu, container):
    b = container.upload_blob("sas/blob", b"secret")
    cname = container.container_name
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    blob_sas = generate_blob_sas(ACCOUNT, cname, "sas/blob", account_key=KEY,
                                 permission=BlobSasPermissions(read=True), expiry=soon)
    rb = BlobClient.from_blob_url(b.url, credential=blob_sas, **FAST_RETRY)
    assert rb.download_blob().readall() == b"secret"
    with pytest.raises(HttpResponseError) as ei:
        rb.upload_blob(b"nope", overwrite=True)
    assert ei.value.status_code == 403 and ei.value.error_code == "AuthorizationPermissionMismatch"
    other = BlobClient(emu.endpoint, cname, "sas/other", credential=blob_sas, **FAST_RETRY)
    with pytest.raises(HttpResponseError) as ei:
        other.download_blob().readall()
    assert ei.value.status_code == 403

    csas = generate_container_sas(ACCOUNT, cname, account_key=KEY,
                                  permission=ContainerSasPermissions(read=True, write=True, list=True,
                                                                     create=True), expiry=soon)
    cc = ContainerClient(emu.endpoint, cname, credential=csas, **FAST_RETRY)
    cc.upload_blob("sas/written", b"via container sas")
    assert sorted(x.name for x in cc.list_blobs()) == ["sas/blob", "sas/written"]
    with pytest.raises(HttpResponseError) as ei:
        cc.get_blob_client("sas/written").delete_blob()
    assert ei.value.status_code == 403

    asas = generate_account_sas(ACCOUNT, KEY, ResourceTypes(service=True, container=True, object=True),
                                AccountSasPermissions(read=True, write=True, list=True, create=True,
                                                      delete=True), expiry=soon)
    asvc = BlobServiceClient(emu.endpoint, credential=asas, **FAST_RETRY)
    assert cname in [c.name for c in asvc.list_containers()]
    tmp = asvc.create_container(cname + "x")
    tmp.upload_blob("k", b"v")
    assert tmp.download_blob("k").readall() == b"v"
    tmp.delete_container()
    objonly = generate_account_sas(ACCOUNT, KEY, ResourceTypes(object=True),
                                   AccountSasPermissions(read=True, list=True), expiry=soon)
    with pytest.raises(HttpResponseError) as ei:
        list(BlobServiceClient(emu.endpoint, credential=objonly, **FAST_RETRY).list_containers())
    assert ei.value.status_code == 403 and ei.value.error_code == "AuthorizationResourceTypeMismatch"

    expired = generate_blob_sas(ACCOUNT, cname, "sas/blob", account_key=KEY,
                                permission=BlobSasPermissions(read=True), expiry=past)
    with pytest.raises(ClientAuthenticationError) as ei:
        BlobClient.from_blob_url(b.url, credential=expired, **FAST_RETRY).download_blob().readall()
    assert ei.value.status_code == 403 and ei.value.error_code == "AuthenticationFailed"
    tampered = blob_sas.replace("sp=r", "sp=rw")
    assert tampered != blob_sas
    with pytest.raises(ClientAuthenticationError) as ei:
        BlobClient.from_blob_url(b.url, credential=tampered, **FAST_RETRY).upload_blob(b"x", overwrite=True)
    assert ei.value.status_code == 403 and ei.value.error_code == "AuthenticationFailed"
    wrongkey = generate_blob_sas(ACCOUNT, cname, "sas/blob", account_key=SECOND_KEY,
                                 permission=BlobSasPermissions(read=True), expiry=soon)
    with pytest.raises(ClientAuthenticationError):
        BlobClient.from_blob_url(b.url, credential=wrongkey, **FAST_RETRY).download_blob().readall()
    assert b.download_blob().readall() == b"secret"


def test_wrong_account_key_is_403(emu, container):
    bad_key = base64.b64encode(b"x" * 64).decode()
    bad = BlobServiceClient.from_connection_string(emu.connection_string(key=bad_key), **FAST_RETRY)
    with pytest.raises(ClientAuthenticationError) as ei:
        bad.get_container_client(container.container_name).get_container_properties()
    assert ei.value.status_code == 403 and ei.value.error_code == "AuthenticationFailed"
    with pytest.raises(ClientAuthenticationError) as ei:
        list(bad.list_containers())
    assert ei.value.status_code == 403


def test_anonymous_and_bearer(emu, container):
    container.upload_blob("tok", b"token data")
    path = "/%s/%s/tok" % (ACCOUNT, container.container_name)
    r, body = emu.raw("GET", path, sign=False)
    assert r.status == 401 and r.getheader("x-ms-error-code") == "NoAuthenticationInformation"
    assert r.getheader("WWW-Authenticate", "").startswith("Bearer ")
    r, body = emu.raw("GET", path, {"Authorization": "Bearer " + BEARER}, sign=False)
    assert r.status == 200 and body == b"token data"
    r, body = emu.raw("GET", path, {"Authorization": "Bearer not-the-token"}, sign=False)
    assert r.status == 401 and r.getheader("x-ms-error-code") == "InvalidAuthenticationInfo"
    r, body = emu.raw("GET", path, {"Authorization": "SharedKey %s:AAAA" % ACCOUNT}, sign=False)
    assert r.status == 403 and r.getheader("x-ms-error-code") == "AuthenticationFailed"


def test_put_block_from_url_across_accounts(emu, container):
    data = os.urandom(3000)
    src = container.upload_blob("src.bin", data)
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    sas = generate_blob_sas(ACCOUNT, container.container_name, "src.bin", account_key=KEY,
                            permission=BlobSasPermissions(read=True), expiry=soon)
    dst_svc = BlobServiceClient.from_connection_string(
        emu.connection_string(SECOND_ACCOUNT, SECOND_KEY), **FAST_RETRY)
    dc = dst_svc.get_container_client(container.container_name)
    dc.create_container()
    dst = dc.get_blob_client("copied/dst.bin")
    copied_before = emu.stats()["bytes_copied"]
    ids = [base64.b64encode(b"blk-%04d" % i).decode() for i in range(3)]
    dst.stage_block_from_url(ids[0], src.url + "?" + sas, source_offset=0, source_length=1000)
    dst.stage_block_from_url(ids[1], src.url + "?" + sas, source_offset=1000, source_length=1000)
    # the third block authorizes with a bearer token instead of a SAS
    dst.stage_block_from_url(ids[2], src.url, source_offset=2000, source_length=1000,
                             source_authorization="Bearer " + BEARER)
    dst.commit_block_list(ids)
    assert dst.download_blob().readall() == data
    assert emu.stats()["bytes_copied"] - copied_before == 3000
    with pytest.raises(HttpResponseError) as ei:
        dst.stage_block_from_url(ids[0], src.url, source_offset=0, source_length=10)
    assert ei.value.error_code == "CannotVerifyCopySource"
    with pytest.raises(HttpResponseError) as ei:
        dst.stage_block_from_url(ids[0], src.url + "-missing?" + sas, source_offset=0, source_length=10)
    assert ei.value.status_code in (403, 404) and ei.value.error_code == "CannotVerifyCopySource"
    dc.delete_container()


def _sdk_string_to_sign(method, url, headers, body=None):
    """Run Microsoft's SharedKeyCredentialPolicy on a request and capture its string-to-sign."""
    policy = SharedKeyCredentialPolicy(ACCOUNT, KEY)
    captured = {}
    policy._add_authorization_header = lambda req, sts: captured.setdefault("sts", sts)
    req = HttpRequest(method, url, headers=headers, content=body)
    policy.on_request(PipelineRequest(req, PipelineContext(None)))
    return captured["sts"], req


@pytest.mark.parametrize("method,path,headers,body", [
    ("GET", "/devstoreaccount1/c1/some/blob.bin", {"x-ms-range": "bytes=0-99"}, None),
    ("PUT", "/devstoreaccount1/c1/dir/a%20b%C3%BC.bin",
     {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream", "x-ms-meta-Foo": "bar",
      "Content-MD5": "XUFAKrxLKna5cZ2REBfFkg==", "If-None-Match": "*"}, b"hello"),
    ("GET", "/devstoreaccount1/c1?restype=container&comp=list&prefix=01%2Fchunks%2F&maxresults=5&"
            "include=metadata&delimiter=%2F&marker=2%21abc", {}, None),
    ("PUT", "/devstoreaccount1/c1/b?comp=block&blockid=YmxrLTAwMDE%3D",
     {"x-ms-copy-source": "http://127.0.0.1/devstoreaccount1/c1/src?sv=1&sig=a%2Bb",
      "x-ms-source-range": "bytes=0-9", "x-ms-client-request-id": "abc"}, None),
    ("DELETE", "/devstoreaccount1/c1/b", {"If-Match": '"0x8D1"'}, None),
    ("GET", "/devstoreaccount1/?comp=list", {}, None),
])
def test_shared_key_string_to_sign_matches_sdk(method, path, headers, body):
    url = "http://127.0.0.1:10000" + path
    h = dict(headers)
    h["x-ms-date"] = "Mon, 01 Jan 2024 00:00:00 GMT"
    h["x-ms-version"] = "2021-12-02"
    if body is not None:
        h["Content-Length"] = str(len(body))
    sdk_sts, req = _sdk_string_to_sign(method, url, h, body)
    raw_path, _, query = path.partition("?")
    pairs = []
    for p in query.split("&") if query else []:
        k, _, v = p.partition("=")
        pairs.append((azblob_emulator.urllib.parse.unquote(k), azblob_emulator.urllib.parse.unquote(v)))
    ours = azblob_emulator.shared_key_string_to_sign(method, raw_path, pairs, list(req.headers.items()),
                                                     ACCOUNT)
    assert ours == sdk_sts


def test_sas_string_to_sign_matches_sdk():
    soon = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    seen = []
    tok = generate_blob_sas(ACCOUNT, "cont", "dir/blob name", account_key=KEY,
                            permission=BlobSasPermissions(read=True, write=True), expiry=soon,
                            start=soon - dt.timedelta(days=1), content_type="text/plain",
                            sts_hook=seen.append)
    q = dict(azblob_emulator.urllib.parse.parse_qsl(tok))
    assert azblob_emulator.service_sas_string_to_sign(ACCOUNT, "cont", "dir/blob name", q) == seen[-1]
    assert azblob_emulator.sign(base64.b64decode(KEY), seen[-1]) == q["sig"]
    tok = generate_account_sas(ACCOUNT, KEY, ResourceTypes(service=True, object=True),
                               AccountSasPermissions(read=True), expiry=soon, sts_hook=seen.append)
    q = dict(azblob_emulator.urllib.parse.parse_qsl(tok))
    assert azblob_emulator.account_sas_string_to_sign(ACCOUNT, q) == seen[-1]


def test_data_dir_persists_across_restarts(tmp_path):
    import signal
    import subprocess
    import sys
    from conftest import EMULATOR

    def start():
        p = subprocess.Popen([sys.executable, EMULATOR, "--port", "0", "--data-dir", str(tmp_path), "--quiet"],
                             stdout=subprocess.PIPE, text=True)
        port = int(p.stdout.readline().split()[1])
        cs = ("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=http://127.0.0.1:%d/%s;"
              % (ACCOUNT, KEY, port, ACCOUNT))
        return p, BlobServiceClient.from_connection_string(cs, max_single_put_size=1024, max_block_size=512,
                                                           **FAST_RETRY)

    p, svc = start()
    data = os.urandom(3000)
    c = svc.create_container("persisted", metadata={"k": "v"})
    c.upload_blob("dir/blocks.bin", data)
    c.upload_blob("single", b"one")
    etag = c.get_blob_client("single").get_blob_properties().etag
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=10) == 0
    p, svc = start()
    try:
        c = svc.get_container_client("persisted")
        assert c.get_container_properties().metadata == {"k": "v"}
        assert c.download_blob("dir/blocks.bin").readall() == data
        assert c.get_blob_client("single").get_blob_properties().etag == etag
        assert len(c.get_blob_client("dir/blocks.bin").get_block_list()[0]) == 6
        c.delete_blob("single")
    finally:
        p.terminate()
        assert p.wait(timeout=10) == 0
    assert not any(f.name.endswith(".json") and "single" in f.read_text() for f in (tmp_path / "blobs").iterdir())


def test_put_block_from_url_source_conditions(emu, container):
    """x-ms-source-if-match pins the source version (blockyard sends the ETag it sized)."""
    data = os.urandom(2048)
    src = container.upload_blob("cond-src", data)
    etag = src.get_blob_properties().etag
    dst = container.get_blob_client("cond-dst")
    ids = [base64.b64encode(b"c-%04d" % i).decode() for i in range(2)]
    dst.stage_block_from_url(ids[0], src.url, source_offset=0, source_length=2048,
                             source_authorization="Bearer " + BEARER, headers={"x-ms-source-if-match": etag})
    with pytest.raises(HttpResponseError) as ei:
        dst.stage_block_from_url(ids[1], src.url, source_offset=0, source_length=10,
                                 source_authorization="Bearer " + BEARER,
                                 headers={"x-ms-source-if-match": '"0x8D0000000000000"'})
    assert ei.value.status_code == 412 and ei.value.error_code == "SourceConditionNotMet"
    staged = dst.get_block_list("uncommitted")[1]
    assert [b.id for b in staged] == [ids[0]], "a failed condition staged nothing"
    dst.commit_block_list([ids[0]], content_settings=ContentSettings(content_md5=md5b(data)))
    props = dst.get_blob_properties()
    assert props.size == 2048 and bytes(props.content_settings.content_md5) == md5b(data)
    assert dst.download_blob().readall() == data


def test_list_containers_include_metadata(svc):
    name = "md" + os.urandom(5).hex()
    svc.create_container(name, metadata={"cluster": "eu1"})
    got = {c.name: c.metadata for c in svc.list_containers(name_starts_with=name, include_metadata=True)}
    assert got == {name: {"cluster": "eu1"}}
    svc.delete_container(name)
