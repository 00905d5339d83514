"""The /__control/ fault-injection and stats API, exercised through Microsoft's SDK."""

import base64
import email.utils
import hashlib
import http.client
import json
import os
import time

import pytest
from azure.core.exceptions import (AzureError, HttpResponseError, ResourceExistsError, ResourceModifiedError,
                                   ServiceRequestError, ServiceResponseError)
from azure.storage.blob import BlobServiceClient, ExponentialRetry

from conftest import ACCOUNT, BEARER, KEY, azblob_emulator


def client(emu, retries=3, **kw):
    return BlobServiceClient.from_connection_string(
        emu.connection_string(),
        retry_policy=ExponentialRetry(initial_backoff=0, increment_base=0, retry_total=retries,
                                      random_jitter_range=0), **kw)


@pytest.fixture
def cont(emu, name):
    c = client(emu).create_container(name)
    yield c
    emu.clear_faults()
    c.delete_container()


def test_control_endpoint_basics(emu):
    rules = emu.faults([{"method": "GET", "path_regex": "/nothing-matches-this$", "times": 2,
                         "action": {"status": 500}}])["rules"]
    assert len(rules) == 1 and rules[0]["times"] == 2
    assert emu.control("GET", "faults")["rules"] == rules
    assert emu.clear_faults()["rules"] == []
    s = emu.stats()
    for k in ("requests", "bytes_received", "bytes_sent", "bytes_copied", "requests_total"):
        assert k in s
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    conn.request("POST", "/__control/faults", body=b"{not json")
    r = conn.getresponse()
    assert r.status == 400
    r.read()
    conn.close()


def test_503_with_retry_after_is_retried(emu, cont):
    svc = client(emu)
    c = svc.get_container_client(cont.container_name)
    emu.faults([{"method": "PUT", "path_regex": "/retry503$", "times": 2,
                 "action": {"status": 503, "code": "ServerBusy", "retry_after": 30}}])
    before = emu.stats()
    t0 = time.monotonic()
    c.upload_blob("retry503", b"payload")
    # azure-storage-blob's StorageRetryPolicy ignores Retry-After (its own backoff, 0 here)
    assert time.monotonic() - t0 < 10
    after = emu.stats()
    assert after["statuses"].get("503", 0) - before["statuses"].get("503", 0) == 2
    assert after["requests"]["PutBlob"] - before["requests"].get("PutBlob", 0) == 3
    assert c.download_blob("retry503").readall() == b"payload"
    # the raw response carries Retry-After and the Azure error shape
    emu.faults([{"method": "GET", "path_regex": "/retry503$", "action": {"status": 503, "retry_after": 7}}])
    r, body = emu.raw("GET", "/%s/%s/retry503" % (ACCOUNT, cont.container_name))
    assert r.status == 503 and r.getheader("Retry-After") == "7"
    assert r.getheader("x-ms-error-code") == "ServerBusy" and b"<Code>ServerBusy</Code>" in body


def test_500_retried_but_429_is_not_by_python_sdk(emu, cont):
    c = client(emu).get_container_client(cont.container_name)
    emu.faults([{"method": "PUT", "path_regex": "/five$", "times": 1, "action": {"status": 500}}])
    c.upload_blob("five", b"x")
    emu.faults([{"method": "PUT", "path_regex": "/four$", "times": 1, "action": {"status": 429}}])
    # azure-storage-blob only retries 408 and >=500 (except 501/505); a 429 surfaces immediately.
    with pytest.raises(HttpResponseError) as ei:
        c.upload_blob("four", b"x")
    assert ei.value.status_code == 429
    c.upload_blob("four", b"x")  # the rule was used up


def test_exhausted_retries_surface_the_error(emu, cont):
    c = client(emu, retries=2).get_container_client(cont.container_name)
    emu.faults([{"method": "GET", "path_regex": "/always$", "times": 10, "action": {"status": 503}}])
    c.upload_blob("always", b"x")
    with pytest.raises(HttpResponseError) as ei:
        c.download_blob("always").readall()
    assert ei.value.status_code == 503 and ei.value.error_code == "ServerBusy"
    assert emu.control("GET", "faults")["rules"][0]["times"] == 7  # 1 try + 2 retries used


def test_connection_reset(emu, cont):
    c = client(emu).get_container_client(cont.container_name)
    c.upload_blob("reset", b"data")
    emu.faults([{"method": "GET", "path_regex": "/reset$", "times": 1, "action": {"reset": True}}])
    assert c.download_blob("reset").readall() == b"data"  # retried after the reset
    emu.faults([{"method": "GET", "path_regex": "/reset$", "times": 10, "action": {"reset": True}}])
    with pytest.raises((ServiceRequestError, ServiceResponseError, AzureError)):
        client(emu, retries=1).get_container_client(cont.container_name).download_blob("reset").readall()
    emu.clear_faults()
    # a reset after the write was applied: the PUT happened even though the client saw an error
    emu.faults([{"method": "PUT", "path_regex": "/applied$", "times": 1,
                 "action": {"reset": True, "process": True}}])
    c.upload_blob("applied", b"v1", overwrite=True)  # the retry overwrites, so the SDK succeeds
    assert c.download_blob("applied").readall() == b"v1"
    # ... but upload_blob's default overwrite=False sends If-None-Match: *, so the retry of a write
    # that was applied before the connection dropped fails with 409 BlobAlreadyExists.
    emu.faults([{"method": "PUT", "path_regex": "/applied2$", "times": 1,
                 "action": {"reset": True, "process": True}}])
    with pytest.raises(ResourceExistsError):
        c.upload_blob("applied2", b"v1")
    assert c.download_blob("applied2").readall() == b"v1"


def test_truncated_body(emu, cont):
    data = os.urandom(50000)
    c = client(emu).get_container_client(cont.container_name)
    c.upload_blob("trunc", data)
    emu.faults([{"method": "GET", "path_regex": "/trunc$", "times": 1, "action": {"truncate_body": 1000}}])
    # the SDK notices the short read (IncompleteRead) and retries
    assert c.download_blob("trunc").readall() == data
    emu.faults([{"method": "GET", "path_regex": "/trunc$", "times": 10, "action": {"truncate_body": 1000}}])
    with pytest.raises(AzureError):
        client(emu, retries=1).get_container_client(cont.container_name).download_blob("trunc").readall()
    emu.clear_faults()
    # raw check: headers promise the full length, the socket closes early
    emu.faults([{"method": "GET", "path_regex": "/trunc$", "times": 1, "action": {"truncate_body": 10}}])
    with pytest.raises(http.client.IncompleteRead):
        emu.raw("GET", "/%s/%s/trunc" % (ACCOUNT, cont.container_name))


def test_reset_mid_body(emu, cont):
    data = os.urandom(200000)
    c = client(emu).get_container_client(cont.container_name)
    c.upload_blob("midreset", data)
    before = emu.stats()["statuses"].get("reset", 0)
    emu.faults([{"method": "GET", "path_regex": "/midreset$", "times": 1, "action": {"reset_after": 5000}}])
    with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
        emu.raw("GET", "/%s/%s/midreset" % (ACCOUNT, cont.container_name))
    assert emu.stats()["statuses"].get("reset", 0) == before + 1
    emu.faults([{"method": "GET", "path_regex": "/midreset$", "times": 1, "action": {"reset_after": 5000}}])
    assert c.download_blob("midreset").readall() == data  # the SDK retries the broken read


def test_stall_mid_body(emu, cont):
    data = os.urandom(100000)
    c = client(emu).get_container_client(cont.container_name)
    c.upload_blob("midstall", data)
    emu.faults([{"method": "GET", "path_regex": "/midstall$", "times": 1,
                 "action": {"stall_body_after": 1000, "stall_body_ms": 400}}])
    t = time.monotonic()
    r, got = emu.raw("GET", "/%s/%s/midstall" % (ACCOUNT, cont.container_name))
    assert r.status == 200 and got == data
    assert time.monotonic() - t >= 0.4


def test_incomplete_request_body_is_not_applied(emu, cont):
    import socket
    path = "/%s/%s/incomplete" % (ACCOUNT, cont.container_name)
    headers = {"x-ms-version": "2021-12-02", "x-ms-date": email.utils.formatdate(usegmt=True),
               "x-ms-blob-type": "BlockBlob", "Content-Length": "1000"}
    sts = azblob_emulator.shared_key_string_to_sign("PUT", path, [], list(headers.items()), ACCOUNT)
    headers["Authorization"] = "SharedKey %s:%s" % (ACCOUNT, azblob_emulator.sign(base64.b64decode(KEY), sts))
    s = socket.create_connection(("127.0.0.1", emu.port))
    s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\n" % path + "".join("%s: %s\r\n" % kv for kv in headers.items())
               + "\r\n").encode() + b"x" * 10)
    s.shutdown(socket.SHUT_WR)  # the client goes away after 10 of the 1000 bytes
    assert s.recv(100) == b""
    s.close()
    r, _ = emu.raw("HEAD", path)
    assert r.status == 404


def test_corrupt_body(emu, cont):
    data = os.urandom(4096)
    c = client(emu).get_container_client(cont.container_name)
    c.upload_blob("corrupt", data)
    emu.faults([{"method": "GET", "path_regex": "/corrupt$", "times": 1, "action": {"corrupt": True}}])
    got = c.download_blob("corrupt").readall()
    assert got != data and len(got) == len(data)  # without validation the corruption goes unnoticed
    emu.faults([{"method": "GET", "path_regex": "/corrupt$", "times": 1, "action": {"corrupt": True}}])
    # with validate_content the SDK checks the range MD5 and either retries or raises; never wrong data
    try:
        got = c.download_blob("corrupt", validate_content=True).readall()
        assert got == data
    except AzureError as e:
        assert "md5" in str(e).lower() or "checksum" in str(e).lower() or "integrity" in str(e).lower()


def test_corrupt_request_body(emu, cont):
    data = os.urandom(4096)
    c = client(emu).get_container_client(cont.container_name)
    # Without a Content-MD5 the damaged body is stored, and the MD5 the service answers with is
    # that of the damaged body, not of what the SDK sent.
    emu.faults([{"method": "PUT", "path_regex": "/inbound$", "times": 1, "action": {"corrupt_request": True}}])
    r = c.get_blob_client("inbound").upload_blob(data)
    got = c.download_blob("inbound").readall()
    assert got != data and len(got) == len(data)
    assert bytes(r["content_md5"]) == hashlib.md5(got).digest() != hashlib.md5(data).digest()
    # With one, the service refuses it and stores nothing.
    emu.faults([{"method": "PUT", "path_regex": "/inbound2$", "times": 1, "action": {"corrupt_request": True}}])
    with pytest.raises(HttpResponseError) as e:
        c.upload_blob("inbound2", data, validate_content=True)  # sends Content-MD5
    assert e.value.error_code == "Md5Mismatch"
    assert not c.get_blob_client("inbound2").exists()


def test_stall_triggers_client_timeout(emu, cont):
    c = client(emu, retries=2).get_container_client(cont.container_name)
    c.upload_blob("slow", b"slow")
    emu.faults([{"method": "GET", "path_regex": "/slow$", "times": 1, "action": {"stall_ms": 1500}}])
    t0 = time.monotonic()
    assert c.download_blob("slow", read_timeout=0.5).readall() == b"slow"
    assert time.monotonic() - t0 >= 0.5
    emu.faults([{"method": "GET", "path_regex": "/slow$", "times": 1, "action": {"stall_ms": 300}}])
    t0 = time.monotonic()
    assert c.download_blob("slow").readall() == b"slow"
    assert time.monotonic() - t0 >= 0.3


def test_race_simulation_409_412(emu, cont):
    c = client(emu).get_container_client(cont.container_name)
    emu.faults([{"method": "PUT", "path_regex": "/race$", "times": 1, "action": {"status": 409}}])
    with pytest.raises(ResourceExistsError):
        c.upload_blob("race", b"x")
    emu.faults([{"method": "PUT", "path_regex": "/race$", "times": 1, "action": {"status": 412}}])
    with pytest.raises(ResourceModifiedError):
        c.upload_blob("race", b"x", overwrite=True)
    c.upload_blob("race", b"x", overwrite=True)


def test_query_and_operation_matching(emu, cont):
    svc = client(emu, max_single_put_size=1024, max_block_size=512)
    c = svc.get_container_client(cont.container_name)
    emu.faults([{"method": "PUT", "query_regex": "comp=blocklist", "times": 1, "action": {"status": 500}},
                {"operation": "PutBlock", "times": 2, "action": {"status": 503}}])
    data = os.urandom(3000)
    c.upload_blob("blocks", data)
    assert c.download_blob("blocks").readall() == data
    assert all(r["times"] == 0 for r in emu.control("GET", "faults")["rules"])


def test_stats_count_bytes(emu, cont):
    c = client(emu).get_container_client(cont.container_name)
    data = os.urandom(12345)
    s0 = emu.stats()
    c.upload_blob("counted", data)
    s1 = emu.stats()
    assert s1["bytes_received"] - s0["bytes_received"] == len(data)
    assert s1["requests"]["PutBlob"] == s0["requests"].get("PutBlob", 0) + 1
    assert c.download_blob("counted").readall() == data
    s2 = emu.stats()
    assert s2["bytes_sent"] - s1["bytes_sent"] >= len(data)
    assert s2["requests"]["GetBlob"] >= s1["requests"].get("GetBlob", 0) + 1


def test_reset_clears_everything(emu):
    svc = client(emu)
    svc.create_container("resetme")
    emu.faults([{"method": "GET", "path_regex": "/x$", "action": {"status": 500}}])
    emu.reset()
    assert "resetme" not in [x.name for x in svc.list_containers()]
    assert emu.control("GET", "faults")["rules"] == []
    # Counters restarted at the reset: only the listing above (the SDK may retry it on a
    # loaded machine, so it can appear more than once) has been counted since.
    st = emu.stats()
    assert set(st["requests"]) == {"ListContainers"}, st["requests"]
    assert st["requests_total"] == st["requests"]["ListContainers"]


def test_stats_per_container_and_operation(emu):
    """Server-side copies move bytes inside the emulator: the destination container receives no
    block bytes, the source sends none; both show them as copied."""
    svc = client(emu)
    a, b = svc.create_container("cnt-a-" + os.urandom(3).hex()), svc.create_container("cnt-b-" + os.urandom(3).hex())
    data = os.urandom(5000)
    src = a.upload_blob("src", data)
    emu.control("DELETE", "stats")
    dst = b.get_blob_client("dst")
    ids = [base64.b64encode(b"s-%02d" % i).decode() for i in range(2)]
    dst.stage_block_from_url(ids[0], src.url, source_offset=0, source_length=3000, source_authorization="Bearer " + BEARER)
    dst.stage_block_from_url(ids[1], src.url, source_offset=3000, source_length=2000, source_authorization="Bearer " + BEARER)
    dst.commit_block_list(ids)
    s = emu.stats()
    ka, kb = "%s/%s" % (ACCOUNT, a.container_name), "%s/%s" % (ACCOUNT, b.container_name)
    assert s["containers"][kb]["bytes_copied_in"] == 5000
    assert s["containers"][ka]["bytes_copied_out"] == 5000
    assert s["containers"][kb]["bytes_received"] == s["operation_bytes"]["PutBlockList"]["received"] < 500
    assert s["operation_bytes"]["PutBlockFromURL"] == {"received": 0, "sent": 0}
    assert ka not in s["containers"] or s["containers"][ka]["bytes_sent"] == 0
    assert dst.download_blob().readall() == data
    s2 = emu.stats()
    assert s2["containers"][kb]["bytes_sent"] - s["containers"][kb]["bytes_sent"] >= 5000
    for c in (a, b):
        c.delete_container()


def test_put_block_from_url_faults_are_retried(emu, cont):
    """The operation matcher reaches Put Block From URL; the SDK retries its 503."""
    c = client(emu).get_container_client(cont.container_name)
    data = os.urandom(1000)
    src = c.upload_blob("f-src", data)
    emu.faults([{"operation": "PutBlockFromURL", "times": 1, "action": {"status": 503}}])
    dst = c.get_blob_client("f-dst")
    bid = base64.b64encode(b"f-0").decode()
    dst.stage_block_from_url(bid, src.url, source_offset=0, source_length=1000, source_authorization="Bearer " + BEARER)
    dst.commit_block_list([bid])
    assert dst.download_blob().readall() == data
    assert emu.stats()["faults_injected"] >= 1
