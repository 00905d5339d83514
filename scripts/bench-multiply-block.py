#!/usr/bin/env python3
"""Makes a large benchmark block from a promtool-made one, in seconds instead of hours.

    bench-multiply-block.py SRC_BLOCK_DIR COPIES OUT_DIR

The output block holds every series of SRC with its 2h of chunks repeated COPIES times,
each copy shifted by the source block's length, so it looks like a (COPIES x 2h) block out
of compaction: the same series and labels, COPIES times the chunks and samples, written
series by series into 512 MiB segments as a compactor writes them. Chunk bytes are copied
with their first timestamp moved and their CRC32C recomputed (so `verify --deep` checks
real samples). The index is written anew: the same symbols, series entries with the shifted chunk metas, the label
indices, postings lists and offset tables pointing at the new offsets, and a TOC.

Only XOR chunks (what promtool writes for float samples) are supported. The CRC32C comes
from blockyard's own C file (Sources/CCRC32C), compiled into OUT_DIR/.. with cc.
Python 3 standard library only; run by hand (scripts/bench-verify.sh), never in CI.
"""

import ctypes
import json
import os
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_crc(workdir):
    lib = os.path.join(workdir, "libby_crc32c.so")
    src = os.path.join(ROOT, "Sources", "CCRC32C", "crc32c.c")
    if not os.path.exists(lib) or os.path.getmtime(lib) < os.path.getmtime(src):
        subprocess.check_call(["cc", "-O2", "-shared", "-fPIC", "-I", os.path.join(ROOT, "Sources", "CCRC32C", "include"),
                               "-o", lib, src])
    c = ctypes.CDLL(lib)
    c.by_crc32c_extend.restype = ctypes.c_uint32
    c.by_crc32c_extend.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    return lambda b: c.by_crc32c_extend(0, bytes(b), len(b))


def uvarint(b, i):
    x = 0
    s = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << s
        if c < 0x80:
            return x, i
        s += 7


def varint(b, i):
    u, i = uvarint(b, i)
    return (u >> 1) ^ -(u & 1), i


def put_uvarint(x, out):
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)


def put_varint(x, out):
    put_uvarint((x << 1) ^ (x >> 63) if x < 0 else x << 1, out)


def be32(b, i):
    return struct.unpack_from(">I", b, i)[0]


class Index:
    def __init__(self, b):
        self.b = b
        toc = len(b) - 52
        (self.symbols, self.series, self.label_indices, self.label_table,
         self.postings, self.postings_table) = struct.unpack_from(">6Q", b, toc)

    def section(self, at):
        """(start of body, end of body) of a len|body|crc section."""
        n = be32(self.b, at)
        return at + 4, at + 4 + n

    def offset_table(self, at):
        """Entries (strings..., offset) of a postings or label offset table."""
        s, e = self.section(at)
        n = be32(self.b, s)
        i = s + 4
        out = []
        for _ in range(n):
            keys, i = uvarint(self.b, i)
            entry = []
            for _ in range(keys):
                ln, i = uvarint(self.b, i)
                entry.append(self.b[i:i + ln])
                i += ln
            off, i = uvarint(self.b, i)
            out.append(tuple(entry) + (off,))
        return out

    def postings_entries(self):
        return self.offset_table(self.postings_table)

    def postings_list(self, at):
        s, e = self.section(at)
        n = be32(self.b, s)
        return list(struct.unpack_from(">%dI" % n, self.b, s + 4))

    def label_table_entries(self):
        return [] if self.label_table == self.postings_table else self.offset_table(self.label_table)

    def series_entry(self, ref):
        at = ref * 16
        n, i = uvarint(self.b, at)
        end = i + n
        nl, i = uvarint(self.b, i)
        labels = []
        for _ in range(nl):
            a, i = uvarint(self.b, i)
            v, i = uvarint(self.b, i)
            labels.append((a, v))
        nc, i = uvarint(self.b, i)
        chunks = []
        mint = maxt = ref_ = 0
        for k in range(nc):
            if k == 0:
                mint, i = varint(self.b, i)
                d, i = uvarint(self.b, i)
                maxt = mint + d
                ref_, i = uvarint(self.b, i)
            else:
                a, i = uvarint(self.b, i)
                mint = maxt + a
                d, i = uvarint(self.b, i)
                maxt = mint + d
                dr, i = varint(self.b, i)
                ref_ += dr
            chunks.append((mint, maxt, ref_))
        assert i == end
        return labels, chunks


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, copies, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    crc = load_crc(os.path.dirname(os.path.abspath(out)))
    meta = json.load(open(os.path.join(src, "meta.json")))
    span = meta["maxTime"] - meta["minTime"]
    segs = sorted(n for n in os.listdir(os.path.join(src, "chunks")) if n.isdigit())
    os.makedirs(os.path.join(out, "chunks"), exist_ok=True)

    # Chunk segments, written series by series as a compactor does (refs only grow): each
    # series' chunks, then the same chunks again for every further copy with the first
    # timestamp moved by j * span. That varint keeps its length, so a record's size holds.
    ix = Index(open(os.path.join(src, "index"), "rb").read())
    sources = [open(os.path.join(src, "chunks", n), "rb").read() for n in segs]
    entries = ix.postings_entries()
    all_refs = ix.postings_list(entries[0][2])
    seg_limit = 512 << 20
    out_seg = [None]
    seg_no = [0]
    samples = 0

    def new_segment():
        if out_seg[0] is not None:
            out_seg[0].close()
        seg_no[0] += 1
        out_seg[0] = open(os.path.join(out, "chunks", "%06d" % seg_no[0]), "wb")
        out_seg[0].write(bytes([0x85, 0xBD, 0x40, 0xDD, 1, 0, 0, 0]))
        return 8

    pos = new_segment()
    series = []
    for r in all_refs:
        labels, chunks = ix.series_entry(r)
        cs = []
        for j in range(copies):
            for mint, maxt, ref_ in chunks:
                b = sources[ref_ >> 32]
                off = ref_ & 0xFFFFFFFF
                ln, d = uvarint(b, off)
                enc = b[d]
                data = d + 1
                assert enc == 1, "only XOR chunks are supported (encoding %d at %d)" % (enc, off)
                rec = bytearray(b[off:data + ln + 4])
                if j == 0:
                    samples += b[data] << 8 | b[data + 1]
                else:
                    t, e = varint(b, data + 2)
                    nv = bytearray()
                    put_varint(t + j * span, nv)
                    assert len(nv) == e - (data + 2), "the first timestamp's varint changed length"
                    rec[data + 2 - off:e - off] = nv
                    struct.pack_into(">I", rec, len(rec) - 4, crc(rec[d - off:len(rec) - 4]))
                if pos + len(rec) > seg_limit:
                    pos = new_segment()
                cs.append((mint + j * span, maxt + j * span, ((seg_no[0] - 1) << 32) | pos))
                out_seg[0].write(rec)
                pos += len(rec)
        series.append((r, labels, cs))
    out_seg[0].close()

    f = bytearray(ix.b[:ix.series])  # header and symbol table, unchanged
    new_ref = {}
    n_chunks = 0
    toc_series = len(f)
    for r, labels, cs in series:
        while len(f) % 16:
            f.append(0)
        new_ref[r] = len(f) // 16
        body = bytearray()
        put_uvarint(len(labels), body)
        for a, v in labels:
            put_uvarint(a, body)
            put_uvarint(v, body)
        put_uvarint(len(cs), body)
        for k, (mint, maxt, ref_) in enumerate(cs):
            if k == 0:
                put_varint(mint, body)
                put_uvarint(maxt - mint, body)
                put_uvarint(ref_, body)
            else:
                put_uvarint(mint - cs[k - 1][1], body)
                put_uvarint(maxt - mint, body)
                put_varint(ref_ - cs[k - 1][2], body)
        n_chunks += len(cs)
        put_uvarint(len(body), f)
        f += body
        f += struct.pack(">I", crc(body))
    toc_label_indices = len(f)
    label_offsets = []
    for name, off in ix.label_table_entries():
        while len(f) % 4:
            f.append(0)
        s, e = ix.section(off)
        label_offsets.append((name, len(f)))
        f += ix.b[off:e + 4]
    toc_postings = len(f)
    new_entries = []
    for name, value, off in entries:
        while len(f) % 4:
            f.append(0)
        new_entries.append((name, value, len(f)))
        ids = [new_ref[r] for r in ix.postings_list(off)]
        body = struct.pack(">I", len(ids)) + struct.pack(">%dI" % len(ids), *ids)
        f += struct.pack(">I", len(body)) + body + struct.pack(">I", crc(body))

    def section(body):
        return struct.pack(">I", len(body)) + bytes(body) + struct.pack(">I", crc(body))

    toc_label_table = len(f)
    if label_offsets:
        body = bytearray(struct.pack(">I", len(label_offsets)))
        for name, o in label_offsets:
            put_uvarint(1, body)
            put_uvarint(len(name), body)
            body += name
            put_uvarint(o, body)
        f += section(body)
    toc_postings_table = len(f)
    if not label_offsets:
        toc_label_table = toc_postings_table
    body = bytearray(struct.pack(">I", len(new_entries)))
    for name, value, o in new_entries:
        put_uvarint(2, body)
        put_uvarint(len(name), body)
        body += name
        put_uvarint(len(value), body)
        body += value
        put_uvarint(o, body)
    f += section(body)
    toc = struct.pack(">6Q", ix.symbols, toc_series, toc_label_indices, toc_label_table, toc_postings, toc_postings_table)
    f += toc + struct.pack(">I", crc(toc))
    with open(os.path.join(out, "index"), "wb") as fh:
        fh.write(f)

    meta["maxTime"] = meta["minTime"] + copies * span
    meta["stats"]["numChunks"] = n_chunks
    meta["stats"]["numSamples"] = samples * copies
    meta["stats"].pop("numFloatSamples", None)
    meta["compaction"]["level"] = 2
    with open(os.path.join(out, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent="\t")
    sys.stderr.write("bench-multiply-block: %d series, %d chunks, %d samples, %d segments\n"
                     % (len(all_refs), n_chunks, samples * copies, seg_no[0]))


if __name__ == "__main__":
    main()
