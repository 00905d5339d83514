#!/usr/bin/env python3
"""Cuts the preallocated zero tail off Prometheus chunks_head/ files, in place.

Prometheus preallocates each head chunk file (128 MiB of zeros on Linux); only the chunks
written before the process died matter. This walks the entries (series ref u64, mint u64,
maxt u64, encoding u8, uvarint length, data, CRC32C u32; all big-endian) from byte 8 and
truncates the file after the last whole entry, so a chunk whose CRC ends in zero bytes is
never cut. Anything after the last whole entry must be zero.
Usage: trim_head_chunks.py CHUNKS_HEAD_DIR
"""
import os
import struct
import sys

import crc32c


def uvarint(b, i):
    x = s = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << s
        if c < 0x80:
            return x, i
        s += 7


def trim(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8 or struct.unpack(">I", data[:4])[0] != 0x0130BC91:
        raise SystemExit("%s: not a head chunk file" % path)
    i, n = 8, 0
    while i + 25 <= len(data):
        ref, mint, maxt = struct.unpack(">QQQ", data[i:i + 24])
        if ref == 0 and mint == 0 and maxt == 0:
            break
        length, j = uvarint(data, i + 25)
        end = j + length
        if end + 4 > len(data) or crc32c.crc32c(data[i:end]) != struct.unpack(">I", data[end:end + 4])[0]:
            break
        i, n = end + 4, n + 1
    if any(data[i:]):
        print("  %s: %d bytes after the last whole chunk are not zero (torn write), cut too" % (path, len(data) - i))
    with open(path, "r+b") as f:
        f.truncate(i)
    print("  %s: %d chunks, %d bytes (was %d)" % (os.path.basename(path), n, i, len(data)))


if __name__ == "__main__":
    d = sys.argv[1]
    for name in sorted(os.listdir(d)):
        if name.isdigit():
            trim(os.path.join(d, name))
