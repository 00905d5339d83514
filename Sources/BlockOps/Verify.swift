import TSDB

/// One problem found in a block.
public struct Finding: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        case unreadable              // a file does not open or decode at all
        case metaMismatch = "meta-mismatch"
        case symbolOrder = "symbol-order"
        case seriesOrder = "series-order"
        case labelOrder = "label-order"
        case emptyLabels = "empty-labels"
        case seriesWithoutChunks = "series-without-chunks"
        case chunkChecksum = "chunk-checksum"
        case chunkEncoding = "chunk-encoding"
        case chunkRef = "chunk-ref"
        case chunkOrder = "chunk-order"
        case chunkOutsideBlock = "chunk-outside-block"
        case chunkAtMaxTime = "chunk-at-max-time"  // Prometheus issue 347
        case statsMismatch = "stats-mismatch"
        case postings
        // Bucket level (BucketChecks).
        case partialUpload = "partial-upload"
        case markedForDeletion = "marked-for-deletion"
        case markedNoCompact = "marked-no-compact"
        case badMarker = "bad-marker"
        case overlap = "overlapping-blocks"
        case duplicatedCompaction = "duplicated-compaction"
        case supersededBlock = "superseded-block"
    }
    public var block: String
    public var kind: Kind
    public var file: String
    public var offset: Int?
    public var series: String?
    public var detail: String

    public var description: String {
        var s = "\(block) \(kind.rawValue) \(file)"
        if let offset { s += "@\(offset)" }
        if let series { s += " series=\(series)" }
        return s + ": " + detail
    }

    public var json: JSONValue {
        var o: [(String, JSONValue)] = [("block", .string(block)), ("kind", .string(kind.rawValue)), ("file", .string(file))]
        if let offset { o.append(("offset", .int(Int64(offset)))) }
        if let series { o.append(("series", .string(series))) }
        o.append(("detail", .string(detail)))
        return .object(o)
    }
}

/// Checks one local block: every section CRC, structure and ordering, every chunk's CRC and
/// placement, and meta.json stats against what the index and chunks hold. Findings are
/// collected, not thrown, so one bad series does not hide the rest; at most `maxPerKind`
/// findings of a kind are kept.
public struct BlockVerifier {
    public var maxPerKind = 20

    public init() {}

    public func verify(directory: String) -> [Finding] {
        let name = directory.split(separator: "/").last.map(String.init) ?? directory
        var out: [Finding] = []
        var perKind: [Finding.Kind: Int] = [:]
        func add(_ f: Finding) {
            perKind[f.kind, default: 0] += 1
            if perKind[f.kind]! <= maxPerKind { out.append(f) }
        }
        let block: Block
        do {
            block = try Block(directory: directory)
        } catch {
            add(Finding(block: name, kind: .unreadable, file: relative(error.file, directory), offset: error.offset, series: nil,
                        detail: "\(error.section.isEmpty ? "" : error.section + ": ")\(error.kind.rawValue): \(error.detail)"))
            return out
        }
        if block.meta.ulid.description != name {
            add(Finding(block: name, kind: .metaMismatch, file: "meta.json", offset: nil, series: nil,
                        detail: "ulid \(block.meta.ulid) differs from the directory name"))
        }
        if block.meta.minTime >= block.meta.maxTime {
            add(Finding(block: name, kind: .metaMismatch, file: "meta.json", offset: nil, series: nil,
                        detail: "minTime \(block.meta.minTime) is not before maxTime \(block.meta.maxTime)"))
        }
        let ix = block.index
        // Symbols: byte-wise sorted and unique.
        do {
            let syms = try ix.allSymbols()
            for i in syms.indices.dropFirst() where byteCompare(syms[i - 1], syms[i]) >= 0 {
                add(Finding(block: name, kind: .symbolOrder, file: "index", offset: Int(ix.toc.symbols), series: nil,
                            detail: "symbol \(i) \"\(syms[i])\" does not sort after \"\(syms[i - 1])\""))
            }
        } catch {
            add(Finding(block: name, kind: .unreadable, file: "index", offset: error.offset, series: nil, detail: error.description))
        }
        let refs: [SeriesRef]
        do { refs = try ix.allPostings() } catch {
            add(Finding(block: name, kind: .postings, file: "index", offset: error.offset, series: nil, detail: error.description))
            return out
        }
        var labels: [LabelRef] = []
        var chunks: [ChunkMeta] = []
        var prev: Labels? = nil
        var numChunks: UInt64 = 0
        var numSamples: UInt64 = 0
        var unreadableChunks = 0
        let mint = block.meta.minTime
        let maxt = block.meta.maxTime
        for ref in refs {
            let lbls: Labels
            do {
                try ix.series(ref, labels: &labels, chunks: &chunks)
                lbls = try ix.labels(labels)
            } catch {
                add(Finding(block: name, kind: .unreadable, file: "index", offset: error.offset, series: nil, detail: error.description))
                continue
            }
            let seriesText = lbls.description
            if lbls.isEmpty {
                add(Finding(block: name, kind: .emptyLabels, file: "index", offset: ix.seriesOffset(ref), series: seriesText,
                            detail: "series has no labels"))
            }
            for i in lbls.indices.dropFirst() where byteCompare(lbls[i - 1].name, lbls[i].name) >= 0 {
                add(Finding(block: name, kind: .labelOrder, file: "index", offset: ix.seriesOffset(ref), series: seriesText,
                            detail: "label \(lbls[i].name) is not after \(lbls[i - 1].name)"))
            }
            if let p = prev, Labels.compare(p, lbls) >= 0 {
                add(Finding(block: name, kind: .seriesOrder, file: "index", offset: ix.seriesOffset(ref), series: seriesText,
                            detail: "series does not sort after \(p)"))
            }
            prev = lbls
            if chunks.isEmpty {
                add(Finding(block: name, kind: .seriesWithoutChunks, file: "index", offset: ix.seriesOffset(ref),
                            series: seriesText, detail: "series has no chunks"))
            }
            var lastMax: Int64? = nil
            for c in chunks {
                numChunks += 1
                if let lm = lastMax, c.minTime <= lm {
                    add(Finding(block: name, kind: .chunkOrder, file: "index", offset: ix.seriesOffset(ref), series: seriesText,
                                detail: "chunk [\(c.minTime), \(c.maxTime)] starts at or before the previous chunk's end \(lm)"))
                }
                lastMax = c.maxTime
                if c.minTime == maxt {
                    add(Finding(block: name, kind: .chunkAtMaxTime, file: "index", offset: ix.seriesOffset(ref), series: seriesText,
                                detail: "chunk starts exactly at the block's maxTime \(maxt) (Prometheus issue 347)"))
                } else if c.minTime < mint || c.maxTime >= maxt {
                    add(Finding(block: name, kind: .chunkOutsideBlock, file: "index", offset: ix.seriesOffset(ref), series: seriesText,
                                detail: "chunk [\(c.minTime), \(c.maxTime)] is outside the block [\(mint), \(maxt))"))
                }
                do {
                    let raw = try block.chunks.chunk(c.ref)
                    if !raw.encoding.isKnown {
                        add(Finding(block: name, kind: .chunkEncoding, file: block.chunks.segmentNames[c.ref.segment],
                                    offset: c.ref.offset, series: seriesText, detail: "unknown chunk encoding \(raw.encoding.rawValue)"))
                    } else if raw.encoding != .thanosAggregate, raw.dataRange.count >= 2 {
                        numSamples += raw.storage.withBytes(raw.dataRange.lowerBound..<raw.dataRange.lowerBound + 2) {
                            UInt64($0[0]) << 8 | UInt64($0[1])
                        }
                    }
                } catch {
                    unreadableChunks += 1
                    let kind: Finding.Kind = error.kind == .checksum ? .chunkChecksum : .chunkRef
                    add(Finding(block: name, kind: kind, file: error.file.isEmpty ? "chunks" : error.file, offset: error.offset,
                                series: seriesText, detail: error.detail))
                }
            }
        }
        let st = block.meta.stats
        if st.numSeries != UInt64(refs.count) {
            add(Finding(block: name, kind: .statsMismatch, file: "meta.json", offset: nil, series: nil,
                        detail: "meta.json says \(st.numSeries) series, the index holds \(refs.count)"))
        }
        if st.numChunks != numChunks {
            add(Finding(block: name, kind: .statsMismatch, file: "meta.json", offset: nil, series: nil,
                        detail: "meta.json says \(st.numChunks) chunks, the index references \(numChunks)"))
        }
        // Samples are counted from chunk headers; a chunk already reported unreadable
        // cannot be counted, so the comparison would only repeat that finding.
        if block.meta.resolution == 0, unreadableChunks == 0, st.numSamples != numSamples {
            add(Finding(block: name, kind: .statsMismatch, file: "meta.json", offset: nil, series: nil,
                        detail: "meta.json says \(st.numSamples) samples, the chunks hold \(numSamples)"))
        }
        for (k, n) in perKind where n > maxPerKind {
            out.append(Finding(block: name, kind: k, file: "", offset: nil, series: nil,
                               detail: "\(n - maxPerKind) more findings of this kind not shown"))
        }
        return out
    }

    func relative(_ file: String, _ dir: String) -> String {
        file.hasPrefix(dir + "/") ? String(file.dropFirst(dir.count + 1)) : file
    }
}
