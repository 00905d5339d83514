#!/usr/bin/env python3
"""A small Azure Blob Storage emulator (block blobs only), standard library only.

Path-style URLs: http://HOST:PORT/<account>/<container>/<blob...>

Run ``python3 azblob_emulator.py --help`` for options.  Once the socket is
listening the process prints exactly one line ``LISTENING <port>`` to stdout;
request logs go to stderr.  See README.md next to this file for the list of
emulated operations and for the fault-injection control API under
``/__control/``.
"""

import argparse
import base64
import binascii
import datetime as dt
import email.utils
import hashlib
import hmac
import ipaddress
import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WELL_KNOWN_ACCOUNT = "devstoreaccount1"
WELL_KNOWN_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
DEFAULT_VERSION = "2021-12-02"
MAX_LIST_RESULTS = 5000
MAX_RANGE_MD5 = 4 * 1024 * 1024
MAX_BLOCKS = 50000
MAX_BLOCK_ID_BYTES = 64
CLOCK_SKEW = dt.timedelta(minutes=15)

CONTAINER_NAME_RE = re.compile(r"^(?:\$root|\$logs|\$web|[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62})$")

# Blob properties that can be set on upload and are echoed on GET/HEAD and in listings.
# (stored key, response header, header on Put Blob, header on Put Block List / Set Properties)
CONTENT_PROPS = [
    ("content_type", "Content-Type", "Content-Type", "x-ms-blob-content-type"),
    ("content_encoding", "Content-Encoding", "Content-Encoding", "x-ms-blob-content-encoding"),
    ("content_language", "Content-Language", "Content-Language", "x-ms-blob-content-language"),
    ("cache_control", "Cache-Control", "Cache-Control", "x-ms-blob-cache-control"),
    ("content_disposition", "Content-Disposition", "x-ms-blob-content-disposition", "x-ms-blob-content-disposition"),
]

DEFAULT_MESSAGES = {
    "AuthenticationFailed": "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
    "AuthorizationFailure": "This request is not authorized to perform this operation.",
    "AuthorizationPermissionMismatch": "This request is not authorized to perform this operation using this permission.",
    "AuthorizationResourceTypeMismatch": "This request is not authorized to perform this operation using this resource type.",
    "AuthorizationServiceMismatch": "This request is not authorized to perform this operation using this service.",
    "AuthorizationProtocolMismatch": "This request is not authorized to perform this operation using this protocol.",
    "AuthorizationSourceIPMismatch": "This request is not authorized to perform this operation using this source IP.",
    "NoAuthenticationInformation": "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
    "InvalidAuthenticationInfo": "Authentication information is not given in the correct format. Check the value of Authorization header.",
    "ContainerAlreadyExists": "The specified container already exists.",
    "ContainerNotFound": "The specified container does not exist.",
    "BlobNotFound": "The specified blob does not exist.",
    "BlobAlreadyExists": "The specified blob already exists.",
    "ConditionNotMet": "The condition specified using HTTP conditional header(s) is not met.",
    "Md5Mismatch": "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
    "InvalidRange": "The range specified is invalid for the current size of the resource.",
    "InvalidBlockList": "The specified block list is invalid.",
    "InvalidBlobOrBlock": "The specified blob or block content is invalid.",
    "InvalidBlockId": "The specified block ID is invalid. The block ID must be Base64-encoded.",
    "InvalidQueryParameterValue": "Value for one of the query parameters specified in the request URI is invalid.",
    "InvalidHeaderValue": "The value for one of the HTTP headers is not in the correct format.",
    "InvalidXmlDocument": "XML specified is not syntactically valid.",
    "InvalidResourceName": "The specifed resource name contains invalid characters.",
    "InvalidUri": "The requested URI does not represent any resource on the server.",
    "MissingRequiredHeader": "An HTTP header that's mandatory for this request is not specified.",
    "MissingContentLengthHeader": "Content-Length HTTP header is missing.",
    "UnsupportedHttpVerb": "The resource doesn't support the specified HTTP verb.",
    "UnsupportedHeader": "One of the HTTP headers specified in the request is not supported.",
    "InvalidInput": "One of the request inputs is not valid.",
    "ResourceNotFound": "The specified resource does not exist.",
    "CannotVerifyCopySource": "Could not verify the copy source within the specified time.",
    "BlockCountExceedsLimit": "The uncommitted block count cannot exceed the maximum limit of 100,000 blocks.",
    "ServerBusy": "The server is currently unable to receive requests. Please retry your request.",
    "InternalError": "The server encountered an internal error. Please retry the request.",
    "OperationTimedOut": "The operation could not be completed within the permitted time.",
    "TooManyRequests": "Too many requests. Please retry your request.",
}


class StorageError(Exception):
    def __init__(self, status, code, message=None, headers=None, detail=None):
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message or DEFAULT_MESSAGES.get(code, code)
        self.headers = headers or {}
        self.detail = detail


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

def utcnow():
    return dt.datetime.now(dt.timezone.utc)


def rfc1123(t):
    return email.utils.format_datetime(t.astimezone(dt.timezone.utc), usegmt=True)


def parse_http_date(value):
    try:
        t = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t


def parse_iso8601(value):
    """Parse the ISO 8601 forms SAS tokens use (date, date+time, optional fraction, Z)."""
    v = value.strip()
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    try:
        t = dt.datetime.fromisoformat(v)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def b64md5(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def sign(key_bytes, string_to_sign):
    mac = hmac.new(key_bytes, string_to_sign.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def encode_marker(name):
    return "2!" + base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii").rstrip("=")


def decode_marker(marker):
    if not marker:
        return ""
    if not marker.startswith("2!"):
        raise StorageError(400, "OutOfRangeInput", "The specified marker is invalid.")
    raw = marker[2:]
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise StorageError(400, "OutOfRangeInput", "The specified marker is invalid.")


_etag_lock = threading.Lock()
_etag_last = [0]


def new_etag():
    """Quoted, Azure-looking ETag; strictly increasing so it changes on every write."""
    with _etag_lock:
        v = max(time.time_ns() // 100 + 0x8D000000000000, _etag_last[0] + 1)
        _etag_last[0] = v
    return '"0x%X"' % v


def parse_range(value, size):
    """Parse 'bytes=a-b' / 'bytes=a-' / 'bytes=-n'. Returns (start, end) inclusive or raises."""
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", value or "")
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None  # Azure ignores a malformed Range header and returns the whole blob
    if m.group(1) == "":
        n = int(m.group(2))
        if n == 0 or size == 0:
            raise StorageError(416, "InvalidRange")
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) != "" else None
    if end is not None and end < start:
        return None
    if start >= size:
        raise StorageError(416, "InvalidRange", headers={"Content-Range": "bytes */%d" % size})
    if end is None:
        end = size - 1
    return start, min(end, size - 1)


# ---------------------------------------------------------------------------
# Shared Key signing (also used by the conformance suite to cross-check)
# ---------------------------------------------------------------------------

SIGNED_STANDARD_HEADERS = [
    "content-encoding", "content-language", "content-length", "content-md5", "content-type",
    "date", "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
]


def _canonical_header_value(v):
    return re.sub(r"[ \t\r\n]+", " ", v.strip())


def shared_key_string_to_sign(method, raw_path, query_pairs, headers, account, sort_mode="ordinal"):
    """Build the Shared Key string-to-sign (version 2015-02-21 and later).

    method: HTTP verb; raw_path: the request path exactly as sent (percent-encoded, no query);
    query_pairs: list of (name, decoded value); headers: list of (name, value) pairs;
    account: the account name from the Authorization header.
    """
    hdrs = {}
    for name, value in headers:
        ln = name.lower()
        hdrs.setdefault(ln, []).append(value)

    def std(name):
        vals = hdrs.get(name)
        if not vals:
            return ""
        v = ",".join(x.strip() for x in vals)
        if name == "content-length" and v == "0":
            return ""
        return v

    parts = [method.upper()] + [std(h) for h in SIGNED_STANDARD_HEADERS]
    xms = [(n, ",".join(_canonical_header_value(v) for v in vals)) for n, vals in hdrs.items()
           if n.startswith("x-ms-")]
    if sort_mode == "ordinal":
        xms.sort(key=lambda kv: kv[0])
    else:  # culture-style: hyphens ignored at the first level (what the .NET service does)
        xms.sort(key=lambda kv: (kv[0].replace("-", ""), kv[0]))
    canon_headers = "".join("%s:%s\n" % (n, v) for n, v in xms)
    resource = "/" + account + (raw_path or "/")
    qmap = {}
    for name, value in query_pairs:
        qmap.setdefault(name.lower(), []).append(value)
    for name in sorted(qmap):
        resource += "\n%s:%s" % (name, ",".join(sorted(qmap[name])))
    return "\n".join(parts) + "\n" + canon_headers + resource


# ---------------------------------------------------------------------------
# SAS string-to-sign
# ---------------------------------------------------------------------------

def account_sas_string_to_sign(account, q):
    g = lambda k: q.get(k, "")
    fields = [account, g("sp"), g("ss"), g("srt"), g("st"), g("se"), g("sip"), g("spr"), g("sv")]
    if g("sv") >= "2020-12-06":
        fields.append(g("ses"))
    return "\n".join(fields) + "\n"


def service_sas_string_to_sign(account, container, blob, q):
    g = lambda k: q.get(k, "")
    sv = g("sv")
    path = "/" + container + ("/" + blob if g("sr") in ("b", "bs", "bv") and blob else "")
    if sv >= "2015-02-21":
        canonical = "/blob/" + account + path
    else:
        canonical = "/" + account + path
    fields = [g("sp"), g("st"), g("se"), canonical, g("si")]
    if sv >= "2015-04-05":
        fields += [g("sip"), g("spr")]
    fields.append(sv)
    if sv >= "2018-11-09":
        fields += [g("sr"), g("snapshot")]
    if sv >= "2020-12-06":
        fields.append(g("ses"))
    if sv >= "2013-08-15":
        fields += [g("rscc"), g("rscd"), g("rsce"), g("rscl"), g("rsct")]
    return "\n".join(fields)


# ---------------------------------------------------------------------------
# Storage model
# ---------------------------------------------------------------------------

class Blob:
    __slots__ = ("data", "etag", "last_modified", "created", "content_md5", "props", "metadata",
                 "committed_blocks")

    def __init__(self, data, content_md5, props, metadata, committed_blocks=None, created=None):
        self.data = data
        self.etag = new_etag()
        self.last_modified = utcnow().replace(microsecond=0)
        self.created = created or self.last_modified
        self.content_md5 = content_md5  # base64 str or None
        self.props = props  # dict of CONTENT_PROPS keys
        self.metadata = metadata  # dict name -> value
        # list of (block_id, offset, length) so Put Block List can reference Committed ids
        self.committed_blocks = committed_blocks

    def to_json(self):
        return {"etag": self.etag, "last_modified": self.last_modified.timestamp(),
                "created": self.created.timestamp(), "content_md5": self.content_md5,
                "props": self.props, "metadata": self.metadata,
                "committed_blocks": self.committed_blocks}

    @classmethod
    def from_json(cls, d, data):
        b = cls(data, d.get("content_md5"), d.get("props") or {}, d.get("metadata") or {},
                [tuple(x) for x in d["committed_blocks"]] if d.get("committed_blocks") else None)
        b.etag = d["etag"]
        b.last_modified = dt.datetime.fromtimestamp(d["last_modified"], dt.timezone.utc)
        b.created = dt.datetime.fromtimestamp(d["created"], dt.timezone.utc)
        return b


class Container:
    def __init__(self, metadata=None):
        self.etag = new_etag()
        self.last_modified = utcnow().replace(microsecond=0)
        self.metadata = metadata or {}
        self.blobs = {}  # name -> Blob
        self.uncommitted = {}  # blob name -> {block_id: bytes}


class Store:
    def __init__(self, data_dir=None):
        self.lock = threading.RLock()
        self.accounts = {}  # account -> {container name -> Container}
        self.data_dir = data_dir
        if data_dir:
            os.makedirs(os.path.join(data_dir, "blobs"), exist_ok=True)

    def account(self, name):
        return self.accounts.setdefault(name, {})

    def clear(self):
        with self.lock:
            self.accounts = {}
            if self.data_dir:
                for fn in os.listdir(os.path.join(self.data_dir, "blobs")):
                    os.unlink(os.path.join(self.data_dir, "blobs", fn))
                self._save_containers()

    # -- persistence (only when --data-dir is given) --
    def _blob_key(self, account, container, name):
        return hashlib.sha256(("%s\n%s\n%s" % (account, container, name)).encode()).hexdigest()

    def _save_containers(self):
        if not self.data_dir:
            return
        doc = {a: {c: {"etag": ct.etag, "last_modified": ct.last_modified.timestamp(),
                       "metadata": ct.metadata} for c, ct in cs.items()}
               for a, cs in self.accounts.items()}
        tmp = os.path.join(self.data_dir, "containers.json.tmp")
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, os.path.join(self.data_dir, "containers.json"))

    def persist_container_change(self):
        self._save_containers()

    def persist_blob(self, account, container, name, blob):
        if not self.data_dir:
            return
        base = os.path.join(self.data_dir, "blobs", self._blob_key(account, container, name))
        if blob is None:
            for ext in (".bin", ".json"):
                try:
                    os.unlink(base + ext)
                except FileNotFoundError:
                    pass
            return
        with open(base + ".bin.tmp", "wb") as f:
            f.write(blob.data)
        os.replace(base + ".bin.tmp", base + ".bin")
        meta = blob.to_json()
        meta.update({"account": account, "container": container, "name": name})
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.replace(base + ".json.tmp", base + ".json")

    def drop_container_files(self, account, container, names):
        for n in names:
            self.persist_blob(account, container, n, None)

    def load(self):
        if not self.data_dir:
            return
        path = os.path.join(self.data_dir, "containers.json")
        if os.path.exists(path):
            with open(path) as f:
                doc = json.load(f)
            for a, cs in doc.items():
                for c, d in cs.items():
                    ct = Container(d.get("metadata"))
                    ct.etag = d["etag"]
                    ct.last_modified = dt.datetime.fromtimestamp(d["last_modified"], dt.timezone.utc)
                    self.account(a)[c] = ct
        bdir = os.path.join(self.data_dir, "blobs")
        for fn in os.listdir(bdir):
            if not fn.endswith(".json"):
                continue
            with open(os.path.join(bdir, fn)) as f:
                meta = json.load(f)
            try:
                with open(os.path.join(bdir, fn[:-5] + ".bin"), "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            ct = self.account(meta["account"]).get(meta["container"])
            if ct is not None:
                ct.blobs[meta["name"]] = Blob.from_json(meta, data)


# ---------------------------------------------------------------------------
# Faults and stats
# ---------------------------------------------------------------------------

class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    def set(self, rules):
        with self.lock:
            self.rules = []
            for r in rules:
                if not isinstance(r, dict) or not isinstance(r.get("action"), dict):
                    raise ValueError("each rule needs an 'action' object")
                rule = dict(r)
                rule.setdefault("times", 1)
                for k in ("path_regex", "query_regex"):
                    if rule.get(k) is not None:
                        rule["_" + k] = re.compile(rule[k])
                self.rules.append(rule)

    def add(self, rules):
        with self.lock:
            existing = self.rules
        self.set(rules)
        with self.lock:
            self.rules = existing + self.rules

    def clear(self):
        with self.lock:
            self.rules = []

    def describe(self):
        with self.lock:
            return [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.rules]

    def match(self, method, path, query, operation):
        with self.lock:
            for r in self.rules:
                if r["times"] == 0:
                    continue
                if r.get("method") and r["method"].upper() != method:
                    continue
                if r.get("operation") and r["operation"] != operation:
                    continue
                if "_path_regex" in r and not r["_path_regex"].search(path):
                    continue
                if "_query_regex" in r and not r["_query_regex"].search(query):
                    continue
                if r["times"] > 0:
                    r["times"] -= 1
                return dict(r["action"])
        return None


class Stats:
    """Counters for the control API: totals, per operation, and per container."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = {}
        self.statuses = {}
        self.bytes_received = 0
        self.bytes_sent = 0
        self.bytes_copied = 0
        self.faults_injected = 0
        self.total = 0
        # "account/container" (or "account" for account-level requests) -> counters
        self.containers = {}
        # operation -> {"received": n, "sent": n}
        self.operation_bytes = {}

    def snapshot(self):
        with self.lock:
            return {"requests_total": self.total, "requests": dict(self.requests),
                    "statuses": dict(self.statuses),
                    "bytes_received": self.bytes_received, "bytes_sent": self.bytes_sent,
                    "bytes_copied": self.bytes_copied, "faults_injected": self.faults_injected,
                    "containers": {k: dict(v) for k, v in self.containers.items()},
                    "operation_bytes": {k: dict(v) for k, v in self.operation_bytes.items()}}

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    @staticmethod
    def where(account, container):
        return "%s/%s" % (account, container) if container else account

    def _bump(self, account, container, **kw):
        c = self.containers.setdefault(self.where(account, container), {
            "requests": 0, "bytes_received": 0, "bytes_sent": 0, "bytes_copied_in": 0, "bytes_copied_out": 0})
        for k, v in kw.items():
            c[k] += v

    def body_bytes(self, req, received=0, sent=0):
        """Request/response body bytes of one request, counted in total, per operation and per container."""
        with self.lock:
            self.bytes_received += received
            self.bytes_sent += sent
            ob = self.operation_bytes.setdefault(req.operation, {"received": 0, "sent": 0})
            ob["received"] += received
            ob["sent"] += sent
            if req.account:
                self._bump(req.account, req.container, bytes_received=received, bytes_sent=sent)

    def copied(self, dest_req, src_req, n):
        """Bytes Put Block From URL moved inside the emulator, from src's container to dest's."""
        with self.lock:
            self.bytes_copied += n
            self._bump(dest_req.account, dest_req.container, bytes_copied_in=n)
            self._bump(src_req.account, src_req.container, bytes_copied_out=n)

    def count(self, op, status, req=None):
        with self.lock:
            self.total += 1
            self.requests[op] = self.requests.get(op, 0) + 1
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
            if req is not None and req.account:
                self._bump(req.account, req.container, requests=1)


# ---------------------------------------------------------------------------
# Request context
# ---------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers=None, body=b""):
        self.status = status
        self.headers = headers or {}
        self.body = body
        self.error_code = None


class Request:
    """Parsed view of one HTTP request, independent of the socket (also used internally
    to serve the source of Put Block From URL)."""

    def __init__(self, method, target, header_pairs, body, client_ip="127.0.0.1"):
        self.method = method.upper()
        self.target = target
        split = urllib.parse.urlsplit(target)
        self.raw_path = split.path or "/"
        self.raw_query = split.query
        raw_pairs = [p.split("=", 1) if "=" in p else (p, "") for p in split.query.split("&") if p]
        # Like the service, '+' in a query string means a space (Go's url.Values encodes spaces so).
        self.query_pairs = [(urllib.parse.unquote_plus(k), urllib.parse.unquote_plus(v)) for k, v in raw_pairs]
        # ... but a client may have signed a literal '+'; Shared Key checking tries this variant too.
        self.query_pairs_literal_plus = [(urllib.parse.unquote(k), urllib.parse.unquote(v))
                                         for k, v in raw_pairs]
        self.q = {}
        for k, v in self.query_pairs:
            self.q.setdefault(k, v)
        self.header_pairs = header_pairs
        self.h = {}
        for k, v in header_pairs:
            lk = k.lower()
            self.h[lk] = v if lk not in self.h else self.h[lk] + "," + v
        self.body = body
        self.client_ip = client_ip
        segs = self.raw_path.split("/", 3)
        # ['', account, container, blob]
        self.account = urllib.parse.unquote(segs[1]) if len(segs) > 1 else ""
        self.container = urllib.parse.unquote(segs[2]) if len(segs) > 2 else ""
        self.blob = urllib.parse.unquote(segs[3]) if len(segs) > 3 else ""
        self.operation = "Unknown"
        self.version = self.h.get("x-ms-version") or self.q.get("sv") or DEFAULT_VERSION
        self.request_id = str(uuid.uuid4())

    def header(self, name, default=None):
        return self.h.get(name.lower(), default)


# ---------------------------------------------------------------------------
# The emulator proper
# ---------------------------------------------------------------------------

class Emulator:
    def __init__(self, accounts, bearer_tokens=(), data_dir=None, check_date=True):
        self.accounts = accounts  # name -> list of key bytes
        self.bearer_tokens = set(bearer_tokens)
        self.store = Store(data_dir)
        self.store.load()
        self.faults = Faults()
        self.stats = Stats()
        self.check_date = check_date
        self.base_url = "http://127.0.0.1"

    # ---------------- operation classification ----------------
    @staticmethod
    def classify(req):
        m, q = req.method, req.q
        restype, comp = q.get("restype"), q.get("comp")
        if not req.container:
            if comp == "list" and m == "GET":
                return "ListContainers"
            if restype == "account" and comp == "properties" and m in ("GET", "HEAD"):
                return "GetAccountInformation"
            if restype == "service" and comp == "properties":
                return "GetServiceProperties" if m == "GET" else "SetServiceProperties"
            return "Unknown"
        if not req.blob:
            if restype == "container":
                if comp is None:
                    return {"PUT": "CreateContainer", "DELETE": "DeleteContainer",
                            "GET": "GetContainerProperties", "HEAD": "GetContainerProperties"}.get(m, "Unknown")
                if comp == "list" and m == "GET":
                    return "ListBlobs"
                if comp == "metadata":
                    return {"PUT": "SetContainerMetadata", "GET": "GetContainerProperties",
                            "HEAD": "GetContainerProperties"}.get(m, "Unknown")
                if comp == "acl" and m in ("GET", "HEAD"):
                    return "GetContainerACL"
            if restype == "account" and comp == "properties":
                return "GetAccountInformation"
            return "Unknown"
        if comp is None:
            return {"PUT": "PutBlob", "GET": "GetBlob", "HEAD": "GetBlobProperties",
                    "DELETE": "DeleteBlob"}.get(m, "Unknown")
        if comp == "block" and m == "PUT":
            return "PutBlockFromURL" if req.header("x-ms-copy-source") else "PutBlock"
        if comp == "blocklist":
            return {"PUT": "PutBlockList", "GET": "GetBlockList"}.get(m, "Unknown")
        if comp == "metadata":
            return {"PUT": "SetBlobMetadata", "GET": "GetBlobMetadata", "HEAD": "GetBlobMetadata"}.get(m, "Unknown")
        if comp == "properties" and m == "PUT":
            return "SetBlobProperties"
        if restype == "account" and comp == "properties":
            return "GetAccountInformation"
        return "Unknown"

    # ---------------- authentication / authorization ----------------
    def authenticate(self, req):
        """Returns an auth context dict or raises StorageError."""
        auth = req.header("authorization")
        if auth:
            scheme, _, cred = auth.strip().partition(" ")
            if scheme == "Bearer":
                if cred.strip() in self.bearer_tokens:
                    return {"kind": "bearer"}
                raise StorageError(401, "InvalidAuthenticationInfo",
                                   headers={"WWW-Authenticate": self._www_authenticate()},
                                   detail="Bearer token is not valid.")
            if scheme == "SharedKey":
                return self._check_shared_key(req, cred)
            raise StorageError(403, "AuthenticationFailed", detail="Unsupported authorization scheme.")
        if "sig" in req.q:
            return self._check_sas(req, req.account, req.container, req.blob, req.q)
        raise StorageError(401, "NoAuthenticationInformation",
                           headers={"WWW-Authenticate": self._www_authenticate()})

    @staticmethod
    def _www_authenticate():
        return ("Bearer authorization_uri=https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000"
                "/oauth2/authorize resource_id=https://storage.azure.com")

    def _check_shared_key(self, req, cred):
        account, _, signature = cred.strip().partition(":")
        if account != req.account or account not in self.accounts or not signature:
            raise StorageError(403, "AuthenticationFailed",
                               detail="The account in the Authorization header does not match the request.")
        date_s = req.header("x-ms-date") or req.header("date")
        if not date_s:
            raise StorageError(403, "AuthenticationFailed",
                               detail="Request date header not specified.")
        when = parse_http_date(date_s)
        if when is None:
            raise StorageError(403, "AuthenticationFailed", detail="The Date header in the request is incorrect.")
        if self.check_date and abs(utcnow() - when) > CLOCK_SKEW:
            raise StorageError(403, "AuthenticationFailed",
                               detail="Request date header too old: '%s'" % date_s)
        first = None
        paths = [req.raw_path]
        alt = urllib.parse.quote(urllib.parse.unquote(req.raw_path), safe="/~!$&'()*+,;=:@")
        if alt != req.raw_path:
            paths.append(alt)
        queries = [req.query_pairs]
        if req.query_pairs_literal_plus != req.query_pairs:
            queries.append(req.query_pairs_literal_plus)
        for path, query, mode in ((p, q, m) for p in paths for q in queries for m in ("ordinal", "culture")):
            sts = shared_key_string_to_sign(req.method, path, query, req.header_pairs, account, mode)
            if first is None:
                first = sts
            for key in self.accounts[account]:
                if hmac.compare_digest(sign(key, sts), signature):
                    return {"kind": "sharedkey"}
        raise StorageError(
            403, "AuthenticationFailed",
            detail="The MAC signature found in the HTTP request '%s' is not the same as any computed "
                   "signature. Server used following string to sign: '%s'." % (signature, first))

    def _check_sas(self, req, account, container, blob, q):
        if account not in self.accounts:
            raise StorageError(403, "AuthenticationFailed", detail="Unknown account.")
        for f in ("sv", "sig"):
            if not q.get(f):
                raise StorageError(403, "AuthenticationFailed", detail="Missing SAS field '%s'." % f)
        is_account = "ss" in q or "srt" in q
        if is_account:
            sts = account_sas_string_to_sign(account, q)
        else:
            if q.get("sr") not in ("b", "c", "bs", "bv"):
                raise StorageError(403, "AuthenticationFailed", detail="Missing or invalid 'sr'.")
            if q.get("si") and not (q.get("sp") and q.get("se")):
                raise StorageError(403, "AuthenticationFailed",
                                   detail="Stored access policies are not supported by this emulator.")
            sts = service_sas_string_to_sign(account, container, blob, q)
        if not any(hmac.compare_digest(sign(k, sts), q["sig"]) for k in self.accounts[account]):
            raise StorageError(403, "AuthenticationFailed",
                               detail="Signature did not match. String to sign used was %s" % sts)
        if not q.get("se") or not q.get("sp"):
            raise StorageError(403, "AuthenticationFailed", detail="Missing SAS field 'se' or 'sp'.")
        now = utcnow()
        se = parse_iso8601(q["se"])
        st = parse_iso8601(q["st"]) if q.get("st") else None
        if se is None or (q.get("st") and st is None):
            raise StorageError(403, "AuthenticationFailed", detail="Invalid SAS time field.")
        if now > se or (st is not None and now < st):
            raise StorageError(
                403, "AuthenticationFailed",
                detail="Signed expiry time [%s] must be after signed start time [%s]; current [%s]. "
                       "Signature not valid in the specified time frame."
                       % (q.get("se"), q.get("st", ""), rfc1123(now)))
        if q.get("spr") and "http" not in [p.strip() for p in q["spr"].split(",")]:
            raise StorageError(403, "AuthorizationProtocolMismatch")
        if q.get("sip"):
            if not self._ip_allowed(q["sip"], req.client_ip):
                raise StorageError(403, "AuthorizationSourceIPMismatch")
        if is_account:
            if "b" not in q.get("ss", ""):
                raise StorageError(403, "AuthorizationServiceMismatch")
            return {"kind": "accountsas", "sp": q["sp"], "srt": q.get("srt", "")}
        return {"kind": "servicesas", "sp": q["sp"], "sr": q["sr"], "container": container,
                "blob": blob}

    @staticmethod
    def _ip_allowed(sip, ip):
        try:
            addr = ipaddress.ip_address(ip)
            if "-" in sip:
                lo, hi = sip.split("-", 1)
                return ipaddress.ip_address(lo) <= addr <= ipaddress.ip_address(hi)
            return addr == ipaddress.ip_address(sip)
        except ValueError:
            return False

    # operation -> (account SAS resource type, permissions that satisfy it)
    SAS_RULES = {
        "ListContainers": ("s", "l"),
        "GetAccountInformation": ("s", "rwdlacup"),
        "GetServiceProperties": ("s", "r"),
        "SetServiceProperties": ("s", "w"),
        "CreateContainer": ("c", "cw"),
        "DeleteContainer": ("c", "d"),
        "GetContainerProperties": ("c", "r"),
        "GetContainerACL": ("c", "r"),
        "SetContainerMetadata": ("c", "w"),
        "ListBlobs": ("c", "l"),
        "GetBlob": ("o", "r"),
        "GetBlobProperties": ("o", "r"),
        "GetBlobMetadata": ("o", "r"),
        "GetBlockList": ("o", "r"),
        "PutBlob": ("o", "w"),
        "PutBlock": ("o", "wc"),
        "PutBlockFromURL": ("o", "wc"),
        "PutBlockList": ("o", "w"),
        "SetBlobMetadata": ("o", "w"),
        "SetBlobProperties": ("o", "w"),
        "DeleteBlob": ("o", "d"),
    }

    def authorize(self, ctx, req, op, creating_new_blob=False):
        kind = ctx["kind"]
        if kind in ("sharedkey", "bearer"):
            return
        rule = self.SAS_RULES.get(op)
        if rule is None:
            raise StorageError(403, "AuthorizationFailure")
        rtype, perms = rule
        if creating_new_blob and op in ("PutBlob", "PutBlockList"):
            perms += "c"
        sp = ctx["sp"]
        if kind == "accountsas":
            if rtype not in ctx["srt"]:
                raise StorageError(403, "AuthorizationResourceTypeMismatch")
        else:
            if req.container != ctx["container"]:
                raise StorageError(403, "AuthenticationFailed", detail="SAS is for a different container.")
            if ctx["sr"] in ("b", "bs", "bv"):
                if rtype != "o" or req.blob != ctx["blob"]:
                    raise StorageError(403, "AuthorizationResourceTypeMismatch")
            elif rtype == "s" or op == "CreateContainer":
                raise StorageError(403, "AuthorizationResourceTypeMismatch")
        if not any(p in sp for p in perms):
            raise StorageError(403, "AuthorizationPermissionMismatch")

    # ---------------- dispatch ----------------
    def handle(self, req):
        """Process one request; returns a Response (errors become error responses)."""
        try:
            resp = self._dispatch(req)
        except StorageError as e:
            resp = self.error_response(req, e)
        self.decorate(req, resp)
        return resp

    def decorate(self, req, resp):
        resp.headers.setdefault("x-ms-request-id", req.request_id)
        resp.headers.setdefault("x-ms-version", req.version)
        resp.headers.setdefault("Date", rfc1123(utcnow()))
        resp.headers.setdefault("Server", "azblob-emulator/1.0")
        if req.header("x-ms-client-request-id"):
            resp.headers.setdefault("x-ms-client-request-id", req.header("x-ms-client-request-id"))

    def error_response(self, req, e):
        msg = "%s\nRequestId:%s\nTime:%s" % (e.message, req.request_id,
                                             utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f0Z"))
        body = '<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message>' % (
            xml_escape(e.code), xml_escape(msg))
        if e.detail:
            body += "<AuthenticationErrorDetail>%s</AuthenticationErrorDetail>" % xml_escape(e.detail)
        body += "</Error>"
        headers = {"x-ms-error-code": e.code, "Content-Type": "application/xml"}
        headers.update(e.headers)
        r = Response(e.status, headers, body.encode("utf-8"))
        r.error_code = e.code
        return r

    def _dispatch(self, req):
        op = req.operation
        if req.account not in self.accounts:
            raise StorageError(400, "InvalidUri", "The requested URI does not represent any resource on the "
                                                  "server (unknown account '%s')." % req.account)
        ctx = self.authenticate(req)
        if op == "Unknown":
            raise StorageError(400, "InvalidQueryParameterValue",
                               "This emulator does not support %s %s." % (req.method, req.target))
        fn = getattr(self, "op_" + op)
        return fn(req, ctx)

    # ---------------- account ----------------
    def op_GetAccountInformation(self, req, ctx):
        self.authorize(ctx, req, "GetAccountInformation")
        return Response(200, {"x-ms-sku-name": "Standard_LRS", "x-ms-account-kind": "StorageV2",
                              "x-ms-is-hns-enabled": "false"})

    def op_GetServiceProperties(self, req, ctx):
        self.authorize(ctx, req, "GetServiceProperties")
        body = ('<?xml version="1.0" encoding="utf-8"?><StorageServiceProperties><Logging><Version>1.0</Version>'
                '<Read>false</Read><Write>false</Write><Delete>false</Delete><RetentionPolicy><Enabled>false'
                '</Enabled></RetentionPolicy></Logging><Cors /><DeleteRetentionPolicy><Enabled>false</Enabled>'
                '</DeleteRetentionPolicy></StorageServiceProperties>')
        return Response(200, {"Content-Type": "application/xml"}, body.encode())

    def op_SetServiceProperties(self, req, ctx):
        self.authorize(ctx, req, "SetServiceProperties")
        return Response(202)

    def op_ListContainers(self, req, ctx):
        self.authorize(ctx, req, "ListContainers")
        prefix = req.q.get("prefix", "")
        maxresults = self._maxresults(req)
        marker = decode_marker(req.q.get("marker", ""))
        include = req.q.get("include", "").split(",")
        with self.store.lock:
            acct = self.store.account(req.account)
            names = sorted(n for n in acct if n.startswith(prefix) and n >= marker)
            page, rest = names[:maxresults], names[maxresults:]
            items = [(n, acct[n]) for n in page]
            out = ['<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="%s/%s/">'
                   % (xml_escape(self.base_url), xml_escape(req.account))]
            if "prefix" in req.q:
                out.append("<Prefix>%s</Prefix>" % xml_escape(prefix))
            if req.q.get("marker"):
                out.append("<Marker>%s</Marker>" % xml_escape(req.q["marker"]))
            if "maxresults" in req.q:
                out.append("<MaxResults>%d</MaxResults>" % maxresults)
            out.append("<Containers>")
            for n, ct in items:
                out.append("<Container><Name>%s</Name><Properties><Last-Modified>%s</Last-Modified>"
                           "<Etag>%s</Etag><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
                           "<DefaultEncryptionScope>$account-encryption-key</DefaultEncryptionScope>"
                           "<DenyEncryptionScopeOverride>false</DenyEncryptionScopeOverride>"
                           "<HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold>"
                           "</Properties>" % (xml_escape(n), rfc1123(ct.last_modified), xml_escape(ct.etag)))
                if "metadata" in include:
                    out.append(self._metadata_xml(ct.metadata))
                out.append("</Container>")
            out.append("</Containers><NextMarker>%s</NextMarker></EnumerationResults>"
                       % (xml_escape(encode_marker(rest[0])) if rest else ""))
        return Response(200, {"Content-Type": "application/xml"}, "".join(out).encode("utf-8"))

    @staticmethod
    def _maxresults(req):
        if "maxresults" not in req.q:
            return MAX_LIST_RESULTS
        try:
            n = int(req.q["maxresults"])
        except ValueError:
            raise StorageError(400, "InvalidQueryParameterValue")
        if n <= 0:
            raise StorageError(400, "OutOfRangeQueryParameterValue",
                               "One of the query parameters specified in the request URI is outside the "
                               "permissible range.")
        return min(n, MAX_LIST_RESULTS)

    @staticmethod
    def _metadata_xml(md):
        return "<Metadata>%s</Metadata>" % "".join(
            "<%s>%s</%s>" % (k, xml_escape(v), k) for k, v in sorted(md.items()))

    # ---------------- containers ----------------
    def _container(self, req):
        ct = self.store.account(req.account).get(req.container)
        if ct is None:
            raise StorageError(404, "ContainerNotFound")
        return ct

    @staticmethod
    def _blob(ct, req):
        b = ct.blobs.get(req.blob)
        if b is None:
            raise StorageError(404, "BlobNotFound")
        return b

    @staticmethod
    def _metadata_from(req):
        md = {}
        for k, v in req.header_pairs:
            lk = k.lower()
            if lk.startswith("x-ms-meta-"):
                name = lk[len("x-ms-meta-"):]
                if not name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    raise StorageError(400, "InvalidMetadata", "The metadata specified is invalid. It has "
                                                               "characters that are not permitted.")
                md[name] = v.strip()
        return md

    def op_CreateContainer(self, req, ctx):
        self.authorize(ctx, req, "CreateContainer")
        if not CONTAINER_NAME_RE.match(req.container):
            raise StorageError(400, "InvalidResourceName")
        md = self._metadata_from(req)
        with self.store.lock:
            acct = self.store.account(req.account)
            if req.container in acct:
                raise StorageError(409, "ContainerAlreadyExists")
            ct = Container(md)
            acct[req.container] = ct
            self.store.persist_container_change()
        return Response(201, {"ETag": ct.etag, "Last-Modified": rfc1123(ct.last_modified)})

    def op_DeleteContainer(self, req, ctx):
        self.authorize(ctx, req, "DeleteContainer")
        with self.store.lock:
            ct = self._container(req)
            self._check_container_conditions(req, ct)
            del self.store.account(req.account)[req.container]
            self.store.persist_container_change()
            self.store.drop_container_files(req.account, req.container, list(ct.blobs))
        return Response(202)

    def _check_container_conditions(self, req, ct):
        ims = req.header("if-modified-since")
        ius = req.header("if-unmodified-since")
        if ims and (t := parse_http_date(ims)) and ct.last_modified <= t:
            raise StorageError(412, "ConditionNotMet")
        if ius and (t := parse_http_date(ius)) and ct.last_modified > t:
            raise StorageError(412, "ConditionNotMet")

    def op_GetContainerProperties(self, req, ctx):
        self.authorize(ctx, req, "GetContainerProperties")
        with self.store.lock:
            ct = self._container(req)
            h = {"ETag": ct.etag, "Last-Modified": rfc1123(ct.last_modified),
                 "x-ms-lease-status": "unlocked", "x-ms-lease-state": "available",
                 "x-ms-has-immutability-policy": "false", "x-ms-has-legal-hold": "false",
                 "x-ms-default-encryption-scope": "$account-encryption-key",
                 "x-ms-deny-encryption-scope-override": "false"}
            for k, v in ct.metadata.items():
                h["x-ms-meta-" + k] = v
        return Response(200, h)

    def op_GetContainerACL(self, req, ctx):
        self.authorize(ctx, req, "GetContainerACL")
        with self.store.lock:
            ct = self._container(req)
            h = {"ETag": ct.etag, "Last-Modified": rfc1123(ct.last_modified), "Content-Type": "application/xml"}
        return Response(200, h, b'<?xml version="1.0" encoding="utf-8"?><SignedIdentifiers />')

    def op_SetContainerMetadata(self, req, ctx):
        self.authorize(ctx, req, "SetContainerMetadata")
        md = self._metadata_from(req)
        with self.store.lock:
            ct = self._container(req)
            ct.metadata = md
            ct.etag = new_etag()
            ct.last_modified = utcnow().replace(microsecond=0)
            self.store.persist_container_change()
        return Response(200, {"ETag": ct.etag, "Last-Modified": rfc1123(ct.last_modified)})

    def op_ListBlobs(self, req, ctx):
        self.authorize(ctx, req, "ListBlobs")
        prefix = req.q.get("prefix", "")
        delimiter = req.q.get("delimiter", "")
        maxresults = self._maxresults(req)
        marker = decode_marker(req.q.get("marker", ""))
        include = set(x.strip() for x in req.q.get("include", "").split(",") if x.strip())
        with self.store.lock:
            ct = self._container(req)
            names = sorted(n for n in ct.blobs if n.startswith(prefix) and n >= marker)
            entries = []  # (kind, name)
            next_marker = ""
            for n in names:
                key, kind = n, "blob"
                if delimiter:
                    i = n.find(delimiter, len(prefix))
                    if i >= 0:
                        key, kind = n[:i + len(delimiter)], "prefix"
                if entries and entries[-1] == ("prefix", key):
                    continue
                if len(entries) == maxresults:
                    next_marker = encode_marker(key)
                    break
                entries.append((kind, key))
            out = ['<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="%s/%s/" '
                   'ContainerName="%s">' % (xml_escape(self.base_url), xml_escape(req.account),
                                            xml_escape(req.container))]
            if "prefix" in req.q:
                out.append("<Prefix>%s</Prefix>" % xml_escape(prefix))
            if req.q.get("marker"):
                out.append("<Marker>%s</Marker>" % xml_escape(req.q["marker"]))
            if "maxresults" in req.q:
                out.append("<MaxResults>%d</MaxResults>" % maxresults)
            if delimiter:
                out.append("<Delimiter>%s</Delimiter>" % xml_escape(delimiter))
            out.append("<Blobs>")
            for kind, name in entries:
                if kind == "prefix":
                    out.append("<BlobPrefix><Name>%s</Name></BlobPrefix>" % xml_escape(name))
                    continue
                b = ct.blobs[name]
                p = ["<Creation-Time>%s</Creation-Time>" % rfc1123(b.created),
                     "<Last-Modified>%s</Last-Modified>" % rfc1123(b.last_modified),
                     "<Etag>%s</Etag>" % xml_escape(b.etag),
                     "<Content-Length>%d</Content-Length>" % len(b.data),
                     "<Content-Type>%s</Content-Type>" % xml_escape(
                         b.props.get("content_type") or "application/octet-stream")]
                for key, xname in (("content_encoding", "Content-Encoding"),
                                   ("content_language", "Content-Language")):
                    p.append("<%s>%s</%s>" % (xname, xml_escape(b.props.get(key, "")), xname))
                p.append("<Content-CRC64 />")
                p.append("<Content-MD5>%s</Content-MD5>" % (b.content_md5 or ""))
                for key, xname in (("cache_control", "Cache-Control"),
                                   ("content_disposition", "Content-Disposition")):
                    p.append("<%s>%s</%s>" % (xname, xml_escape(b.props.get(key, "")), xname))
                p.append("<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier>"
                         "<AccessTierInferred>true</AccessTierInferred><LeaseStatus>unlocked</LeaseStatus>"
                         "<LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted>")
                out.append("<Blob><Name>%s</Name><Properties>%s</Properties>" % (xml_escape(name), "".join(p)))
                if "metadata" in include:
                    out.append(self._metadata_xml(b.metadata))
                out.append("<OrMetadata /></Blob>")
            out.append("</Blobs><NextMarker>%s</NextMarker></EnumerationResults>" % xml_escape(next_marker))
        return Response(200, {"Content-Type": "application/xml"}, "".join(out).encode("utf-8"))

    # ---------------- blob helpers ----------------
    @staticmethod
    def _etag_matches(header_value, etag):
        if header_value is None:
            return False
        vals = [v.strip() for v in header_value.split(",")]
        return "*" in vals or etag in vals or etag.strip('"') in [v.strip('"') for v in vals]

    def _check_read_conditions(self, req, b):
        """GET/HEAD: 412 for If-Match/If-Unmodified-Since, 304 for If-None-Match/If-Modified-Since."""
        im, inm = req.header("if-match"), req.header("if-none-match")
        ims, ius = req.header("if-modified-since"), req.header("if-unmodified-since")
        if im is not None and not self._etag_matches(im, b.etag):
            raise StorageError(412, "ConditionNotMet")
        if ius and (t := parse_http_date(ius)) and b.last_modified > t:
            raise StorageError(412, "ConditionNotMet")
        if inm is not None and self._etag_matches(inm, b.etag):
            raise StorageError(304, "ConditionNotMet", headers={"ETag": b.etag,
                                                                "Last-Modified": rfc1123(b.last_modified)})
        if ims and (t := parse_http_date(ims)) and b.last_modified <= t:
            raise StorageError(304, "ConditionNotMet", headers={"ETag": b.etag,
                                                                "Last-Modified": rfc1123(b.last_modified)})

    def _check_write_conditions(self, req, b):
        """PUT/DELETE on a blob: b may be None when the blob does not exist."""
        im, inm = req.header("if-match"), req.header("if-none-match")
        ims, ius = req.header("if-modified-since"), req.header("if-unmodified-since")
        if b is None:
            if im is not None:
                raise StorageError(412, "ConditionNotMet")
            return
        if inm is not None and inm.strip() == "*":
            raise StorageError(409, "BlobAlreadyExists")
        if im is not None and not self._etag_matches(im, b.etag):
            raise StorageError(412, "ConditionNotMet")
        if inm is not None and self._etag_matches(inm, b.etag):
            raise StorageError(412, "ConditionNotMet")
        if ims and (t := parse_http_date(ims)) and b.last_modified <= t:
            raise StorageError(412, "ConditionNotMet")
        if ius and (t := parse_http_date(ius)) and b.last_modified > t:
            raise StorageError(412, "ConditionNotMet")

    def _blob_headers(self, b):
        h = {"ETag": b.etag, "Last-Modified": rfc1123(b.last_modified),
             "x-ms-creation-time": rfc1123(b.created), "x-ms-blob-type": "BlockBlob",
             "x-ms-lease-status": "unlocked", "x-ms-lease-state": "available",
             "x-ms-server-encrypted": "true", "x-ms-access-tier": "Hot",
             "x-ms-access-tier-inferred": "true", "Accept-Ranges": "bytes",
             "Content-Type": b.props.get("content_type") or "application/octet-stream"}
        for key, hdr, _, _ in CONTENT_PROPS[1:]:
            if b.props.get(key):
                h[hdr] = b.props[key]
        for k, v in b.metadata.items():
            h["x-ms-meta-" + k] = v
        if b.committed_blocks is not None:
            h["x-ms-blob-committed-block-count"] = str(len(b.committed_blocks))
        return h

    @staticmethod
    def _check_body_md5(req, body):
        """The body's MD5 (base64), checked against Content-MD5 when the request has one. Hashed
        once: a client that sends Content-MD5 costs no more than one that does not."""
        computed = b64md5(body)
        md5 = req.header("content-md5")
        if md5 and md5.strip() != computed:
            raise StorageError(400, "Md5Mismatch", headers={"x-ms-md5-mismatch-expected": md5.strip()})
        return computed

    @staticmethod
    def _props_from(req, header_index):
        props = {}
        for key, _, put_hdr, list_hdr in CONTENT_PROPS:
            hdr = put_hdr if header_index == 2 else list_hdr
            v = req.header(hdr)
            if header_index == 2 and req.header(list_hdr) is not None:
                v = req.header(list_hdr)
            if v:
                props[key] = v
        return props

    def _store_blob(self, req, ct, blob):
        old = ct.blobs.get(req.blob)
        if old is not None:
            blob.created = old.created
        ct.blobs[req.blob] = blob
        ct.uncommitted.pop(req.blob, None)
        self.store.persist_blob(req.account, req.container, req.blob, blob)

    # ---------------- blob operations ----------------
    def op_PutBlob(self, req, ctx):
        with self.store.lock:
            exists = req.blob in self._container(req).blobs
        self.authorize(ctx, req, "PutBlob", creating_new_blob=not exists)
        btype = req.header("x-ms-blob-type")
        if not btype:
            raise StorageError(400, "MissingRequiredHeader", headers={})
        if btype != "BlockBlob":
            raise StorageError(400, "InvalidHeaderValue",
                               "Only BlockBlob is supported by this emulator (got x-ms-blob-type: %s)." % btype)
        body = req.body
        computed = self._check_body_md5(req, body)
        props = self._props_from(req, 2)
        md = self._metadata_from(req)
        with self.store.lock:
            ct = self._container(req)
            self._check_write_conditions(req, ct.blobs.get(req.blob))
            blob = Blob(body, computed, props, md, None)
            self._store_blob(req, ct, blob)
        return Response(201, {"ETag": blob.etag, "Last-Modified": rfc1123(blob.last_modified),
                              "Content-MD5": computed, "x-ms-request-server-encrypted": "true"})

    def op_GetBlobProperties(self, req, ctx):
        self.authorize(ctx, req, "GetBlobProperties")
        with self.store.lock:
            b = self._container(req).blobs.get(req.blob)
            if b is None:
                raise StorageError(404, "BlobNotFound")
            self._check_read_conditions(req, b)
            h = self._blob_headers(b)
            h["Content-Length"] = str(len(b.data))
            if b.content_md5:
                h["Content-MD5"] = b.content_md5
        return Response(200, h, b"")

    def op_GetBlobMetadata(self, req, ctx):
        self.authorize(ctx, req, "GetBlobMetadata")
        with self.store.lock:
            b = self._container(req).blobs.get(req.blob)
            if b is None:
                raise StorageError(404, "BlobNotFound")
            self._check_read_conditions(req, b)
            h = {"ETag": b.etag, "Last-Modified": rfc1123(b.last_modified)}
            for k, v in b.metadata.items():
                h["x-ms-meta-" + k] = v
        return Response(200, h)

    def op_GetBlob(self, req, ctx):
        self.authorize(ctx, req, "GetBlob")
        with self.store.lock:
            b = self._container(req).blobs.get(req.blob)
            if b is None:
                raise StorageError(404, "BlobNotFound")
            self._check_read_conditions(req, b)
            data, h = b.data, self._blob_headers(b)
            md5 = b.content_md5
        rng_hdr = req.header("x-ms-range") or req.header("range")
        rng = parse_range(rng_hdr, len(data)) if rng_hdr else None
        want_range_md5 = (req.header("x-ms-range-get-content-md5") or "").lower() == "true"
        if rng is None:
            if want_range_md5:
                raise StorageError(400, "InvalidHeaderValue",
                                   "x-ms-range-get-content-md5 requires a range.")
            if md5:
                h["Content-MD5"] = md5
            return Response(200, h, data)
        start, end = rng
        part = data[start:end + 1]
        if want_range_md5:
            if len(part) > MAX_RANGE_MD5:
                raise StorageError(400, "OutOfRangeInput",
                                   "x-ms-range-get-content-md5 is only allowed for ranges up to 4 MiB.")
            h["Content-MD5"] = b64md5(part)
        if md5:
            h["x-ms-blob-content-md5"] = md5
        h["Content-Range"] = "bytes %d-%d/%d" % (start, end, len(data))
        return Response(206, h, part)

    def op_DeleteBlob(self, req, ctx):
        self.authorize(ctx, req, "DeleteBlob")
        with self.store.lock:
            ct = self._container(req)
            b = self._blob(ct, req)
            self._check_write_conditions(req, b)
            del ct.blobs[req.blob]
            ct.uncommitted.pop(req.blob, None)
            self.store.persist_blob(req.account, req.container, req.blob, None)
        return Response(202, {"x-ms-delete-type-permanent": "true"})

    def op_SetBlobMetadata(self, req, ctx):
        self.authorize(ctx, req, "SetBlobMetadata")
        md = self._metadata_from(req)
        with self.store.lock:
            ct = self._container(req)
            b = self._blob(ct, req)
            self._check_write_conditions(req, b)
            b.metadata = md
            b.etag = new_etag()
            b.last_modified = utcnow().replace(microsecond=0)
            self.store.persist_blob(req.account, req.container, req.blob, b)
        return Response(200, {"ETag": b.etag, "Last-Modified": rfc1123(b.last_modified),
                              "x-ms-request-server-encrypted": "true"})

    def op_SetBlobProperties(self, req, ctx):
        self.authorize(ctx, req, "SetBlobProperties")
        with self.store.lock:
            ct = self._container(req)
            b = self._blob(ct, req)
            self._check_write_conditions(req, b)
            b.props = self._props_from(req, 3)
            md5 = req.header("x-ms-blob-content-md5")
            b.content_md5 = md5 or None
            b.etag = new_etag()
            b.last_modified = utcnow().replace(microsecond=0)
            self.store.persist_blob(req.account, req.container, req.blob, b)
        return Response(200, {"ETag": b.etag, "Last-Modified": rfc1123(b.last_modified)})

    # ---------------- block blobs ----------------
    @staticmethod
    def _check_block_id(block_id):
        try:
            raw = base64.b64decode(block_id, validate=True)
        except (binascii.Error, ValueError):
            raise StorageError(400, "InvalidQueryParameterValue",
                               "Value for one of the query parameters specified in the request URI is invalid.",
                               detail=None)
        if not block_id or len(raw) > MAX_BLOCK_ID_BYTES:
            raise StorageError(400, "InvalidQueryParameterValue")

    def _stage_block(self, req, block_id, data):
        with self.store.lock:
            ct = self._container(req)
            staged = ct.uncommitted.setdefault(req.blob, {})
            lengths = {len(i) for i in staged}
            b = ct.blobs.get(req.blob)
            if b is not None and b.committed_blocks:
                lengths |= {len(i) for i, _, _ in b.committed_blocks}
            if lengths and len(block_id) not in lengths:
                raise StorageError(400, "InvalidBlobOrBlock",
                                   "The specified blob or block content is invalid. All block ids of a blob "
                                   "must have the same length.")
            if block_id not in staged and len(staged) >= 100000:
                raise StorageError(409, "BlockCountExceedsLimit")
            staged[block_id] = data

    def op_PutBlock(self, req, ctx):
        self.authorize(ctx, req, "PutBlock")
        block_id = req.q.get("blockid", "")
        self._check_block_id(block_id)
        md5 = self._check_body_md5(req, req.body)
        self._stage_block(req, block_id, req.body)
        return Response(201, {"Content-MD5": md5, "x-ms-request-server-encrypted": "true"})

    def op_PutBlockFromURL(self, req, ctx):
        self.authorize(ctx, req, "PutBlockFromURL")
        block_id = req.q.get("blockid", "")
        self._check_block_id(block_id)
        if req.body:
            raise StorageError(400, "InvalidInput", "Put Block From URL must not have a request body.")
        data, sreq = self._read_copy_source(req)
        src_range = req.header("x-ms-source-range")
        if src_range:
            m = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", src_range)
            if not m:
                raise StorageError(400, "InvalidHeaderValue")
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            if start >= len(data) or end < start:
                raise StorageError(416, "InvalidRange")
            data = data[start:min(end, len(data) - 1) + 1]
        src_md5 = req.header("x-ms-source-content-md5")
        md5 = b64md5(data)
        if src_md5 and src_md5.strip() != md5:
            raise StorageError(400, "Md5Mismatch")
        self._stage_block(req, block_id, data)
        self.stats.copied(req, sreq, len(data))
        return Response(201, {"Content-MD5": md5, "x-ms-request-server-encrypted": "true"})

    def _read_copy_source(self, req):
        src = req.header("x-ms-copy-source")
        u = urllib.parse.urlsplit(src)
        if u.scheme not in ("http", "https") or not u.path:
            raise StorageError(400, "InvalidHeaderValue", "x-ms-copy-source is not a valid URL.")
        host = (u.hostname or "").lower()
        if host not in ("127.0.0.1", "localhost", "::1") or (u.port and u.port != self.port):
            raise StorageError(400, "CannotVerifyCopySource",
                               "Copy sources outside this emulator are not supported (%s)." % src)
        hdrs = [("x-ms-version", req.version)]
        # x-ms-source-if-match & co. are the source's conditional headers.
        for cond in ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since"):
            v = req.header("x-ms-source-" + cond)
            if v is not None:
                hdrs.append((cond, v))
        src_auth = req.header("x-ms-copy-source-authorization")
        if src_auth:
            if not src_auth.startswith("Bearer "):
                raise StorageError(400, "InvalidHeaderValue",
                                   "x-ms-copy-source-authorization must use the Bearer scheme.")
            hdrs.append(("Authorization", src_auth))
        target = u.path + ("?" + u.query if u.query else "")
        sreq = Request("GET", target, hdrs, b"", req.client_ip)
        sreq.operation = "GetBlob"
        if sreq.account not in self.accounts:
            raise StorageError(400, "CannotVerifyCopySource", "Unknown source account.")
        try:
            ctx = self.authenticate(sreq)
            return self.op_GetBlob(sreq, ctx).body, sreq
        except StorageError as e:
            if e.code == "ConditionNotMet" or e.status == 304:
                raise StorageError(412, "SourceConditionNotMet",
                                   "The source condition specified using HTTP conditional header(s) is not met.")
            status = e.status if e.status >= 400 else 400
            raise StorageError(status, "CannotVerifyCopySource", "%s (source: %s)" % (e.message, e.code),
                               detail=e.detail)

    def op_PutBlockList(self, req, ctx):
        with self.store.lock:
            exists = req.blob in self._container(req).blobs
        self.authorize(ctx, req, "PutBlockList", creating_new_blob=not exists)
        self._check_body_md5(req, req.body)
        try:
            root = ET.fromstring(req.body)
        except ET.ParseError:
            raise StorageError(400, "InvalidXmlDocument")
        if root.tag != "BlockList":
            raise StorageError(400, "InvalidXmlDocument")
        wanted = []
        for el in root:
            if el.tag not in ("Latest", "Committed", "Uncommitted"):
                raise StorageError(400, "InvalidXmlDocument")
            wanted.append((el.tag, (el.text or "").strip()))
        if len(wanted) > MAX_BLOCKS:
            raise StorageError(400, "InvalidBlockList")
        props = self._props_from(req, 3)
        md = self._metadata_from(req)
        with self.store.lock:
            ct = self._container(req)
            old = ct.blobs.get(req.blob)
            self._check_write_conditions(req, old)
            staged = ct.uncommitted.get(req.blob, {})
            committed = {}
            if old is not None and old.committed_blocks:
                for bid, off, ln in old.committed_blocks:
                    committed[bid] = old.data[off:off + ln]
            parts, blocks, off = [], [], 0
            for kind, bid in wanted:
                if kind == "Uncommitted":
                    data = staged.get(bid)
                elif kind == "Committed":
                    data = committed.get(bid)
                else:
                    data = staged.get(bid, committed.get(bid))
                if data is None:
                    raise StorageError(400, "InvalidBlockList")
                parts.append(data)
                blocks.append((bid, off, len(data)))
                off += len(data)
            content_md5 = req.header("x-ms-blob-content-md5")
            blob = Blob(b"".join(parts), content_md5.strip() if content_md5 else None, props, md, blocks)
            self._store_blob(req, ct, blob)
        return Response(201, {"ETag": blob.etag, "Last-Modified": rfc1123(blob.last_modified),
                              "x-ms-request-server-encrypted": "true"})

    def op_GetBlockList(self, req, ctx):
        self.authorize(ctx, req, "GetBlockList")
        kind = req.q.get("blocklisttype", "committed").lower()
        if kind not in ("committed", "uncommitted", "all"):
            raise StorageError(400, "InvalidQueryParameterValue")
        with self.store.lock:
            ct = self._container(req)
            b = ct.blobs.get(req.blob)
            staged = dict(ct.uncommitted.get(req.blob, {}))
            if b is None and not staged:
                raise StorageError(404, "BlobNotFound")
            h = {"Content-Type": "application/xml"}
            if b is not None:
                self._check_read_conditions(req, b)
                h.update({"ETag": b.etag, "Last-Modified": rfc1123(b.last_modified),
                          "x-ms-blob-content-length": str(len(b.data))})
            out = ['<?xml version="1.0" encoding="utf-8"?><BlockList>']
            if kind in ("committed", "all"):
                out.append("<CommittedBlocks>")
                for bid, _, ln in (b.committed_blocks or []) if b is not None else []:
                    out.append("<Block><Name>%s</Name><Size>%d</Size></Block>" % (xml_escape(bid), ln))
                out.append("</CommittedBlocks>")
            if kind in ("uncommitted", "all"):
                out.append("<UncommittedBlocks>")
                for bid, data in staged.items():
                    out.append("<Block><Name>%s</Name><Size>%d</Size></Block>" % (xml_escape(bid), len(data)))
                out.append("</UncommittedBlocks>")
            out.append("</BlockList>")
        return Response(200, h, "".join(out).encode("utf-8"))


# ---------------------------------------------------------------------------
# HTTP front end
# ---------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a reused keep-alive
    # connection would hold the body back until the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server_version = "azblob-emulator/1.0"
    sys_version = ""

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        # A client that went away mid-body: Azure never acts on an incomplete request.
        return body if len(body) == n else None

    def _handle(self):
        emu = self.server.emulator
        body = self._read_body()
        if body is None:
            self.close_connection = True
            return
        if self.path.startswith("/__control/"):
            return self._control(body)
        req = Request(self.command, self.path, list(self.headers.items()), body, self.client_address[0])
        req.operation = emu.classify(req)
        emu.stats.body_bytes(req, received=len(body))
        fault = emu.faults.match(req.method, req.raw_path, req.raw_query, req.operation)
        if fault is not None:
            emu.stats.add(faults_injected=1)
            self.log_message("FAULT %s on %s %s", json.dumps(fault), self.command, self.path)
        if fault and fault.get("stall_ms"):
            time.sleep(float(fault["stall_ms"]) / 1000.0)
        if fault and fault.get("corrupt_request") and req.body:
            # Damage on the way in: the service sees a body the client did not send.
            i = len(req.body) // 2
            req.body = req.body[:i] + bytes([req.body[i] ^ 0xFF]) + req.body[i + 1:]
        if fault and fault.get("reset") and not fault.get("process"):
            emu.stats.count(req.operation, "reset", req)
            return self._reset()
        if fault and fault.get("status") and not fault.get("process"):
            resp = emu.error_response(req, self._fault_error(fault))
            emu.decorate(req, resp)
        else:
            resp = emu.handle(req)
        if fault and fault.get("reset"):
            emu.stats.count(req.operation, "reset", req)
            return self._reset()
        if fault and fault.get("status") and fault.get("process"):
            resp = emu.error_response(req, self._fault_error(fault))
            emu.decorate(req, resp)
        truncate = fault.get("truncate_body") if fault else None
        corrupt = bool(fault and fault.get("corrupt"))
        reset_after = fault.get("reset_after") if fault else None
        emu.stats.count(req.operation, "reset" if reset_after is not None else resp.status, req)
        stall_body = (int(fault["stall_body_after"]), float(fault.get("stall_body_ms", 0)) / 1000.0) \
            if fault and fault.get("stall_body_after") is not None else None
        self._send(req, resp, truncate=truncate, corrupt=corrupt, reset_after=reset_after, stall_body=stall_body)

    @staticmethod
    def _fault_error(fault):
        status = int(fault["status"])
        default_code = {500: "InternalError", 503: "ServerBusy", 429: "TooManyRequests",
                        408: "OperationTimedOut", 409: "BlobAlreadyExists", 412: "ConditionNotMet",
                        404: "BlobNotFound", 403: "AuthenticationFailed"}.get(status, "InternalError")
        headers = {}
        if fault.get("retry_after") is not None:
            headers["Retry-After"] = str(fault["retry_after"])
        return StorageError(status, fault.get("code", default_code), fault.get("message"), headers=headers)

    def _reset(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.wfile.flush()
        except OSError:
            pass
        self.connection.close()

    def _send(self, req, resp, truncate=None, corrupt=False, reset_after=None, stall_body=None):
        emu = self.server.emulator
        body = resp.body
        is_head = self.command == "HEAD"
        if resp.status == 304 or is_head:
            length = resp.headers.pop("Content-Length", None)
            send_body = b""
            if resp.status == 304 or resp.error_code:
                length = "0"
            length = length if length is not None else str(len(body))
        else:
            resp.headers.pop("Content-Length", None)
            length = str(len(body))
            send_body = body
        if corrupt and send_body:
            i = len(send_body) // 2
            send_body = send_body[:i] + bytes([send_body[i] ^ 0xFF]) + send_body[i + 1:]
        self.log_request(resp.status)
        self.send_response_only(resp.status)  # send_response() would add a second Date and Server
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", length)
        if truncate is not None or reset_after is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate is not None:
            send_body = send_body[:int(truncate)]
        if reset_after is not None:
            send_body = send_body[:int(reset_after)]
        sent = 0
        try:
            if stall_body is not None and stall_body[0] < len(send_body):
                # part of the body, a pause, then the rest: a slow or stuck source mid-body
                self.wfile.write(send_body[:stall_body[0]])
                self.wfile.flush()
                sent = stall_body[0]
                time.sleep(stall_body[1])
            if len(send_body) > sent:
                self.wfile.write(send_body[sent:] if sent else send_body)
            sent = len(send_body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        emu.stats.body_bytes(req, sent=sent)
        if reset_after is not None:
            return self._reset()
        if truncate is not None:
            # orderly close (FIN, not RST) so the client sees the short body and then EOF
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _control(self, body):
        emu = self.server.emulator
        path = self.path.split("?", 1)[0]
        try:
            if path == "/__control/faults" and self.command in ("POST", "PUT"):
                rules = json.loads(body or b"[]")
                if isinstance(rules, dict):
                    rules = [rules]
                if self.command == "POST" and "append" in self.path:
                    emu.faults.add(rules)
                else:
                    emu.faults.set(rules)
                return self._json(200, {"rules": emu.faults.describe()})
            if path == "/__control/faults" and self.command == "DELETE":
                emu.faults.clear()
                return self._json(200, {"rules": []})
            if path == "/__control/faults" and self.command == "GET":
                return self._json(200, {"rules": emu.faults.describe()})
            if path == "/__control/stats" and self.command == "GET":
                return self._json(200, emu.stats.snapshot())
            if path == "/__control/stats" and self.command == "DELETE":
                emu.stats.reset()
                return self._json(200, emu.stats.snapshot())
            if path == "/__control/reset" and self.command == "POST":
                emu.store.clear()
                emu.faults.clear()
                with emu.stats.lock:
                    emu.stats.reset()
                return self._json(200, {"ok": True})
            if path == "/__control/health" and self.command == "GET":
                return self._json(200, {"ok": True})
        except (ValueError, re.error) as e:
            return self._json(400, {"error": str(e)})
        return self._json(404, {"error": "unknown control endpoint %s %s" % (self.command, path)})

    def _json(self, status, obj):
        data = json.dumps(obj, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _safe(self):
        try:
            self._handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # last resort: a 500 with the Azure error shape
            import traceback
            traceback.print_exc()
            try:
                emu = self.server.emulator
                req = Request(self.command, self.path, list(self.headers.items()), b"")
                resp = emu.error_response(req, StorageError(500, "InternalError", "Emulator bug: %r" % e))
                emu.decorate(req, resp)
                self._send(req, resp)
            except Exception:
                self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _safe


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def parse_account(spec):
    name, sep, key = spec.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError("--account wants NAME:BASE64KEY")
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise argparse.ArgumentTypeError("account key for %s is not valid base64" % name)
    return name, raw


def main(argv=None):
    ap = argparse.ArgumentParser(description="Azure Blob Storage emulator (block blobs, path-style URLs)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--account", action="append", type=parse_account, default=[],
                    help="NAME:BASE64KEY (repeatable; a name given twice gets both keys). "
                         "Default: the well-known devstoreaccount1.")
    ap.add_argument("--bearer-token", action="append", default=[],
                    help="accept 'Authorization: Bearer TOKEN' (stands in for Azure AD); repeatable")
    ap.add_argument("--data-dir", help="persist containers and blobs here (default: in memory)")
    ap.add_argument("--no-date-check", action="store_true",
                    help="do not reject Shared Key requests whose date is more than 15 minutes off")
    ap.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = ap.parse_args(argv)

    accounts = {}
    for name, key in args.account or [parse_account(WELL_KNOWN_ACCOUNT + ":" + WELL_KNOWN_KEY)]:
        accounts.setdefault(name, []).append(key)
    emu = Emulator(accounts, args.bearer_token, args.data_dir, check_date=not args.no_date_check)
    server = Server((args.host, args.port), Handler)
    server.emulator = emu
    port = server.server_address[1]
    emu.port = port
    host = args.host if ":" not in args.host else "[%s]" % args.host
    emu.base_url = "http://%s:%d" % (host, port)
    if args.quiet:
        Handler.log_message = lambda *a, **k: None

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write("LISTENING %d\n" % port)
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
