#!/usr/bin/env python3
"""Re-encodes a Prometheus 2.42 WAL directory with zstd, as Prometheus >= 2.46 writes it.

Independent of blockyard's Swift code: fragments are read and checked here (CRC32C from the
`crc32c` package), snappy records decompressed with `cramjam`, and recompressed with the
`zstandard` package (one zstd frame per record, like klauspost's EncodeAll). As in 2.46's
wlog.log: a record is stored compressed only when that is smaller; a record is cut into
fragments that never cross a 32 KiB page; a page with fewer than 7 bytes left is zero-padded.
Each segment keeps its records (records never cross segments); a segment that did not end on a
page boundary (a killed process) does not end on one in the copy either.

Usage: reencode_zstd.py SRC_WAL_DIR DST_WAL_DIR   (checkpoint.N directories are included)
Prints what it read and wrote.
"""
import os
import struct
import sys

import cramjam
import crc32c
import zstandard

PAGE = 32 * 1024
HDR = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
SNAPPY, ZSTD = 0x08, 0x10


def read_records(data, name, stats):
    """Yields whole records of one segment; a torn tail record is dropped (and counted)."""
    pos, parts, flags = 0, [], None
    while pos < len(data):
        in_page = PAGE - pos % PAGE
        if in_page < HDR or data[pos] == 0:
            # Page terminator: the rest of the page is zero.
            end = min(len(data), pos + in_page)
            if any(data[pos:end]):
                raise SystemExit("%s: non-zero padding at %d" % (name, pos))
            pos = end
            continue
        typ = data[pos]
        if pos + HDR > len(data):
            raise SystemExit("%s: torn fragment header at %d" % (name, pos))
        length, crc = struct.unpack(">HI", data[pos + 1:pos + HDR])
        frag = data[pos + HDR:pos + HDR + length]
        if len(frag) != length:
            stats["torn"] += 1
            break
        if crc32c.crc32c(frag) != crc:
            raise SystemExit("%s: CRC mismatch at %d" % (name, pos))
        kind = typ & 7
        stats["fragments"] += 1
        stats["flags"][typ & 0xF8] = stats["flags"].get(typ & 0xF8, 0) + 1
        if kind in (FULL, FIRST):
            if parts:
                raise SystemExit("%s: record started inside a record at %d" % (name, pos))
            flags = typ & 0xF8
        parts.append(frag)
        pos += HDR + length
        if kind in (FULL, LAST):
            rec = b"".join(parts)
            parts = []
            if flags & SNAPPY:
                rec = bytes(cramjam.snappy.decompress_raw(rec))
                stats["snappy"] += 1
            elif flags & ZSTD:
                raise SystemExit("%s: already zstd at %d" % (name, pos))
            else:
                stats["plain"] += 1
            yield rec
    if parts:
        stats["torn"] += 1


def write_segment(records, aligned, compressor, stats):
    out = bytearray()
    for rec in records:
        flag = 0
        packed = compressor.compress(rec) if rec else rec
        if rec and len(packed) < len(rec):
            rec, flag = packed, ZSTD
            stats["zstd"] += 1
        else:
            stats["stored"] += 1
        first = True
        while True:
            room = PAGE - len(out) % PAGE - HDR
            part, rec = rec[:room], rec[room:]
            if first and not rec:
                kind = FULL
            elif not rec:
                kind = LAST
            elif first:
                kind = FIRST
            else:
                kind = MIDDLE
            out += struct.pack(">BHI", kind | flag, len(part), crc32c.crc32c(part)) + part
            first = False
            if PAGE - len(out) % PAGE < HDR:
                out += bytes(PAGE - len(out) % PAGE if len(out) % PAGE else 0)
            if not rec:
                break
    if aligned and len(out) % PAGE:
        out += bytes(PAGE - len(out) % PAGE)
    return bytes(out)


def segments(d):
    return sorted((n for n in os.listdir(d) if n.isdigit()), key=int)


def main(src, dst):
    compressor = zstandard.ZstdCompressor(level=3, write_content_size=True)
    stats = {"fragments": 0, "flags": {}, "snappy": 0, "plain": 0, "torn": 0, "zstd": 0, "stored": 0}
    dirs = [""] + sorted(n for n in os.listdir(src) if n.startswith("checkpoint.") and os.path.isdir(os.path.join(src, n)))
    for sub in dirs:
        sdir, ddir = os.path.join(src, sub), os.path.join(dst, sub)
        os.makedirs(ddir, exist_ok=True)
        for seg in segments(sdir):
            with open(os.path.join(sdir, seg), "rb") as f:
                data = f.read()
            recs = list(read_records(data, os.path.join(sub, seg), stats))
            with open(os.path.join(ddir, seg), "wb") as f:
                f.write(write_segment(recs, len(data) % PAGE == 0, compressor, stats))
            print("  %-22s %8d bytes, %5d records" % (os.path.join(sub, seg), len(data), len(recs)))
    flags = ", ".join("0x%02x: %d" % kv for kv in sorted(stats["flags"].items()))
    print("read %(fragments)d fragments; records: %(snappy)d snappy, %(plain)d uncompressed, %(torn)d torn tails dropped" % stats)
    print("fragment flag bits (type byte & 0xf8): " + flags)
    print("wrote records: %(zstd)d zstd, %(stored)d uncompressed (zstd not smaller)" % stats)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
