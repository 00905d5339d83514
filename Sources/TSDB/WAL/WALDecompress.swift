import CSnappy
import CZstd

/// Decompression of WAL records: snappy block format (Prometheus 2.x default) and zstd frames
/// (Prometheus >= 2.46 with `--storage.tsdb.wal-compression-type=zstd`). Sizes are checked
/// against `WALFormat.maxRecordSize` before anything is allocated.
package enum WALDecompress {
    package static func snappy(_ src: UnsafeRawBufferPointer, origin: Int) throws(TSDBError) -> [UInt8] {
        guard let base = src.baseAddress?.assumingMemoryBound(to: CChar.self), src.count > 0 else {
            throw TSDBError(.corrupt, offset: origin, "empty snappy record")
        }
        var size = 0
        guard snappy_uncompressed_length(base, src.count, &size) == SNAPPY_OK else {
            throw TSDBError(.corrupt, offset: origin, "snappy: bad length preamble")
        }
        guard size <= WALFormat.maxRecordSize else {
            throw TSDBError(.corrupt, offset: origin, "snappy: record claims \(size) bytes")
        }
        var out = [UInt8](repeating: 0, count: size)
        var n = size
        let status = out.withUnsafeMutableBytes { dst in
            snappy_uncompress(base, src.count, dst.baseAddress?.assumingMemoryBound(to: CChar.self), &n)
        }
        guard status == SNAPPY_OK, n == size else {
            throw TSDBError(.corrupt, offset: origin, "snappy: invalid compressed data")
        }
        return out
    }

    /// Every zstd frame in `src`, concatenated (as Go's `DecodeAll`).
    package static func zstd(_ src: UnsafeRawBufferPointer, origin: Int) throws(TSDBError) -> [UInt8] {
        guard src.count > 0 else { throw TSDBError(.corrupt, offset: origin, "empty zstd record") }
        guard let ds = ZSTD_createDStream() else {
            throw TSDBError(.io, offset: origin, "zstd: cannot allocate a decoder")
        }
        defer { ZSTD_freeDStream(ds) }
        var out: [UInt8] = []
        let declared = ZSTD_getFrameContentSize(src.baseAddress, src.count)
        // UInt64.max is "unknown", UInt64.max - 1 "not a frame"; either way decoding reports it.
        if declared < UInt64.max - 1 {
            guard declared <= UInt64(WALFormat.maxRecordSize) else {
                throw TSDBError(.corrupt, offset: origin, "zstd: frame claims \(declared) bytes")
            }
            out.reserveCapacity(Int(declared))
        }
        var input = ZSTD_inBuffer(src: src.baseAddress, size: src.count, pos: 0)
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            var output = ZSTD_outBuffer(dst: nil, size: 0, pos: 0)
            let r = chunk.withUnsafeMutableBytes { p in
                output = ZSTD_outBuffer(dst: p.baseAddress, size: p.count, pos: 0)
                return ZSTD_decompressStream(ds, &output, &input)
            }
            if ZSTD_isError(r) != 0 {
                throw TSDBError(.corrupt, offset: origin + input.pos, "zstd: \(String(cString: ZSTD_getErrorName(r)))")
            }
            guard out.count + output.pos <= WALFormat.maxRecordSize else {
                throw TSDBError(.corrupt, offset: origin, "zstd: record larger than \(WALFormat.maxRecordSize) bytes")
            }
            out.append(contentsOf: chunk[0..<output.pos])
            if input.pos == input.size {
                // 0: the last frame is complete and flushed. Otherwise the decoder either has
                // more to flush (the output was filled) or wants input that is not there.
                if r == 0 { break }
                if output.pos < output.size { throw TSDBError(.truncated, offset: origin + input.pos, "zstd: frame is truncated") }
            }
        }
        return out
    }
}
