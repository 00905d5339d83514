#!/usr/bin/env python3
"""Benchmark helper for the Azure Blob emulator (standard library only).

Talks Shared Key to a path-style Blob endpoint (the emulator in Tests/emulator) over
keep-alive HTTP/1.1 connections, one per worker thread.

  populate_container.py --endpoint URL mkcontainer NAME...
      create containers (an existing one is fine)

  populate_container.py --endpoint URL populate --container NAME --blocks N
          [--workers 32] [--seed 1] [--ulids-out FILE]
      write N fake Thanos blocks: <ULID>/meta.json (a realistic Thanos meta.json with
      the thanos section: labels, downsample, source, segment_files, files with sizes,
      index_stats), <ULID>/index and <ULID>/chunks/000001 (small random bytes). ULIDs
      and time ranges are distinct (block i covers [base + i*2h, base + (i+1)*2h)).
      Prints the ULIDs, one a line, to --ulids-out (sorted).

  populate_container.py --endpoint URL clearmd5 --container NAME [--keep-suffix meta.json]
      clear the stored Content-MD5 of every blob in NAME (Set Blob Properties without
      x-ms-blob-content-md5) except names ending in --keep-suffix: blobs as Thanos' uploader
      leaves them (committed block lists carry no MD5)

URL is http://127.0.0.1:PORT/<account>. Account and key default to the emulator's
well-known devstoreaccount1 (override with --account/--key).
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate

WELL_KNOWN_ACCOUNT = "devstoreaccount1"
WELL_KNOWN_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
                  "K1SZFPTOtr/KBHBeksoGMGw==")
API_VERSION = "2021-08-06"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Client:
    """One Shared Key client per thread (http.client connections are not thread-safe)."""

    def __init__(self, endpoint, account, key):
        u = urllib.parse.urlsplit(endpoint)
        if u.scheme != "http":
            raise SystemExit("endpoint must be http://HOST:PORT/ACCOUNT (loopback emulator)")
        self.host, self.port = u.hostname, u.port or 80
        self.base_path = u.path.rstrip("/")  # "/devstoreaccount1"
        self.account = account
        self.key = base64.b64decode(key)
        self.local = threading.local()

    def conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.local.conn = c
        return c

    def sign(self, method, path, query, headers):
        h = {k.lower(): v for k, v in headers.items()}
        length = h.get("content-length", "")
        if length == "0":
            length = ""
        fields = [method, h.get("content-encoding", ""), h.get("content-language", ""), length,
                  h.get("content-md5", ""), h.get("content-type", ""), "",
                  h.get("if-modified-since", ""), h.get("if-match", ""), h.get("if-none-match", ""),
                  h.get("if-unmodified-since", ""), h.get("range", "")]
        canon_headers = "".join("%s:%s\n" % (k, h[k].strip()) for k in sorted(h) if k.startswith("x-ms-"))
        resource = "/" + self.account + path
        params = {}
        for k, v in query:
            params.setdefault(k.lower(), []).append(v)
        for k in sorted(params):
            resource += "\n%s:%s" % (k, ",".join(sorted(params[k])))
        to_sign = "\n".join(fields) + "\n" + canon_headers + resource
        mac = hmac.new(self.key, to_sign.encode("utf-8"), hashlib.sha256).digest()
        return "SharedKey %s:%s" % (self.account, base64.b64encode(mac).decode())

    def request(self, method, rel, query=(), body=b"", headers=None, ok=(200, 201, 202)):
        path = self.base_path + "/" + urllib.parse.quote(rel, safe="/")
        hdrs = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": API_VERSION,
                "Content-Length": str(len(body))}
        hdrs.update(headers or {})
        hdrs["Authorization"] = self.sign(method, path, query, hdrs)
        target = path + ("?" + urllib.parse.urlencode(list(query)) if query else "")
        for attempt in range(3):
            c = self.conn()
            try:
                c.request(method, target, body=body, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                c.close()
                self.local.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.1)
        if r.status not in ok:
            raise RuntimeError("%s %s -> %d %s" % (method, target, r.status, data[:300].decode("utf-8", "replace")))
        return r.status, data

    def create_container(self, name):
        self.request("PUT", name, query=[("restype", "container")], ok=(201, 409))

    def put_blob(self, container, name, body, content_type="application/octet-stream"):
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        self.request("PUT", container + "/" + name, body=body,
                     headers={"x-ms-blob-type": "BlockBlob", "Content-Type": content_type, "Content-MD5": md5},
                     ok=(201,))

    def list_blobs(self, container):
        """(name, content type) of every blob in the container, following NextMarker."""
        out, marker = [], ""
        while True:
            q = [("restype", "container"), ("comp", "list")] + ([("marker", marker)] if marker else [])
            _, data = self.request("GET", container, query=q, ok=(200,))
            root = ET.fromstring(data)
            for b in root.iter("Blob"):
                out.append((b.findtext("Name"), b.findtext("Properties/Content-Type") or ""))
            marker = root.findtext("NextMarker") or ""
            if not marker:
                return out

    def clear_md5(self, container, name, content_type):
        """Set Blob Properties keeping the content type: the MD5, not sent, is cleared."""
        self.request("PUT", container + "/" + name, query=[("comp", "properties")],
                     headers={"x-ms-blob-content-type": content_type}, ok=(200,))


def ulid(ms, rng):
    """A ULID string: 48-bit millisecond time, 80 random bits, Crockford base32."""
    n = (ms << 80) | rng.getrandbits(80)
    return "".join(CROCKFORD[(n >> (5 * i)) & 31] for i in reversed(range(26)))


def fake_block(i, rng, base_ms):
    two_h = 2 * 3600 * 1000
    min_t = base_ms + i * two_h
    max_t = min_t + two_h
    # Created (and named) shortly after its range closes, like a sidecar upload.
    uid = ulid(max_t + 120_000 + rng.randrange(60_000), rng)
    clusters = ["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1"]
    series = 20_000 + rng.randrange(80_000)
    chunks = series * 4 + rng.randrange(1000)
    samples = chunks * 120
    index = rng.randbytes(512 + rng.randrange(1536))
    seg = rng.randbytes(1024 + rng.randrange(3072))
    meta = {
        "ulid": uid,
        "minTime": min_t,
        "maxTime": max_t,
        "stats": {"numSamples": samples, "numSeries": series, "numChunks": chunks},
        "compaction": {"level": 1, "sources": [uid]},
        "version": 1,
        "thanos": {
            "labels": {"cluster": clusters[i % len(clusters)], "replica": "prom-%d" % (i % 2),
                       "tenant_id": "default-tenant"},
            "downsample": {"resolution": 0},
            "source": "sidecar",
            "segment_files": ["000001"],
            "files": [
                {"rel_path": "chunks/000001", "size_bytes": len(seg)},
                {"rel_path": "index", "size_bytes": len(index)},
                {"rel_path": "meta.json"},
            ],
            "index_stats": {"series_max_size": 1200 + rng.randrange(800),
                            "chunk_max_size": 900 + rng.randrange(600)},
        },
    }
    body = (json.dumps(meta, indent="\t") + "\n").encode()
    return uid, [("chunks/000001", seg, "application/octet-stream"),
                 ("index", index, "application/octet-stream"),
                 ("meta.json", body, "application/json")]


def cmd_mkcontainer(cl, args):
    for name in args.names:
        cl.create_container(name)


def cmd_populate(cl, args):
    rng = random.Random(args.seed)
    base_ms = 1_690_848_000_000  # 2023-08-01T00:00:00Z, 2h aligned
    blocks = [fake_block(i, rng, base_ms) for i in range(args.blocks)]
    ids = [b[0] for b in blocks]
    if len(set(ids)) != len(ids):
        raise SystemExit("duplicate ULIDs generated")
    cl.create_container(args.container)
    # Objects first, meta.json last per block (as a real upload does); all in parallel.
    data = [(uid, rel, body, ct) for uid, objs in blocks for rel, body, ct in objs if rel != "meta.json"]
    metas = [(uid, rel, body, ct) for uid, objs in blocks for rel, body, ct in objs if rel == "meta.json"]
    t0 = time.monotonic()
    nbytes = 0
    with ThreadPoolExecutor(max_workers=args.workers) as ex:
        for batch in (data, metas):
            futs = [ex.submit(cl.put_blob, args.container, "%s/%s" % (uid, rel), body, ct)
                    for uid, rel, body, ct in batch]
            for f in futs:
                f.result()
            nbytes += sum(len(b[2]) for b in batch)
    dt = time.monotonic() - t0
    print("populated %s: %d blocks, %d objects, %d bytes in %.2f s"
          % (args.container, len(blocks), len(data) + len(metas), nbytes, dt), file=sys.stderr)
    if args.ulids_out:
        with open(args.ulids_out, "w") as f:
            f.write("".join(u + "\n" for u in sorted(ids)))


def cmd_clearmd5(cl, args):
    n = 0
    for name, ct in cl.list_blobs(args.container):
        if args.keep_suffix and name.endswith(args.keep_suffix):
            continue
        cl.clear_md5(args.container, name, ct)
        n += 1
    print("cleared the MD5 of %d blobs in %s" % (n, args.container), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True, help="http://127.0.0.1:PORT/ACCOUNT")
    ap.add_argument("--account", default=WELL_KNOWN_ACCOUNT)
    ap.add_argument("--key", default=WELL_KNOWN_KEY)
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("mkcontainer")
    mk.add_argument("names", nargs="+")
    pop = sub.add_parser("populate")
    pop.add_argument("--container", required=True)
    pop.add_argument("--blocks", type=int, required=True)
    pop.add_argument("--workers", type=int, default=32)
    pop.add_argument("--seed", type=int, default=1)
    pop.add_argument("--ulids-out")
    clr = sub.add_parser("clearmd5")
    clr.add_argument("--container", required=True)
    clr.add_argument("--keep-suffix", default="")
    args = ap.parse_args()
    cl = Client(args.endpoint, args.account, args.key)
    {"mkcontainer": cmd_mkcontainer, "populate": cmd_populate, "clearmd5": cmd_clearmd5}[args.cmd](cl, args)


if __name__ == "__main__":
    main()
