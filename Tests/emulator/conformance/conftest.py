"""Shared fixtures: one emulator process per test session, helpers for raw HTTP and the control API."""

import base64
import email.utils
import http.client
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(os.path.dirname(HERE), "azblob_emulator.py")
sys.path.insert(0, os.path.dirname(HERE))

import azblob_emulator  # noqa: E402  (the emulator's own signer, cross-checked in test_sdk.py)

ACCOUNT = azblob_emulator.WELL_KNOWN_ACCOUNT
KEY = azblob_emulator.WELL_KNOWN_KEY
SECOND_ACCOUNT = "blockyardsecond"
SECOND_KEY = base64.b64encode(b"second-account-key-for-tests-0123456789abcdef").decode()
BEARER = "conformance-bearer-token"


class Emu:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port
        self.endpoint = "http://127.0.0.1:%d/%s" % (port, ACCOUNT)
        self.second_endpoint = "http://127.0.0.1:%d/%s" % (port, SECOND_ACCOUNT)

    def connection_string(self, account=ACCOUNT, key=KEY):
        return ("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;"
                "BlobEndpoint=http://127.0.0.1:%d/%s;" % (account, key, self.port, account))

    # -- control API --
    def control(self, method, path, payload=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        body = json.dumps(payload).encode() if payload is not None else None
        conn.request(method, "/__control/" + path, body=body,
                     headers={"Content-Type": "application/json"} if body else {})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        assert r.status == 200, (r.status, data)
        return json.loads(data)

    def faults(self, rules):
        return self.control("POST", "faults", rules)

    def clear_faults(self):
        return self.control("DELETE", "faults")

    def stats(self):
        return self.control("GET", "stats")

    def reset(self):
        return self.control("POST", "reset")

    # -- raw HTTP, optionally Shared Key signed with the emulator's own signer --
    def raw(self, method, path, headers=None, body=b"", account=ACCOUNT, key=KEY, sign=True):
        headers = dict(headers or {})
        headers.setdefault("x-ms-version", "2021-12-02")
        headers.setdefault("x-ms-date", email.utils.formatdate(usegmt=True))
        if body or method in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        if sign:
            raw_path, _, query = path.partition("?")
            pairs = []
            for p in query.split("&") if query else []:
                k, _, v = p.partition("=")
                pairs.append((azblob_emulator.urllib.parse.unquote(k), azblob_emulator.urllib.parse.unquote(v)))
            sts = azblob_emulator.shared_key_string_to_sign(method, raw_path, pairs, list(headers.items()),
                                                            account)
            headers["Authorization"] = "SharedKey %s:%s" % (
                account, azblob_emulator.sign(base64.b64decode(key), sts))
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request(method, path, body=body or None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r, data


@pytest.fixture(scope="session")
def emu():
    cmd = [sys.executable, EMULATOR, "--port", "0",
           "--account", "%s:%s" % (ACCOUNT, KEY),
           "--account", "%s:%s" % (SECOND_ACCOUNT, SECOND_KEY),
           "--bearer-token", BEARER]
    log = open(os.path.join(os.environ.get("EMULATOR_LOG_DIR", "/tmp"), "azblob-emulator-pytest.log"), "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()
    assert line.startswith("LISTENING "), "emulator did not start: %r" % line
    port = int(line.split()[1])
    e = Emu(proc, port)
    yield e
    proc.terminate()
    rc = proc.wait(timeout=10)
    log.close()
    assert rc == 0, "emulator did not exit cleanly on SIGTERM (rc=%s)" % rc


@pytest.fixture
def name():
    """A fresh, valid container name."""
    return "t" + uuid.uuid4().hex[:20]


@pytest.fixture(autouse=True)
def _clean_faults(request):
    yield
    if "emu" in request.fixturenames:
        request.getfixturevalue("emu").clear_faults()
