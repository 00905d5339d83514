import Foundation

/// One segment file of a WAL or of a checkpoint.
public struct WALSegmentFile: Sendable, Equatable {
    /// The number in the file name.
    public var index: Int
    public var path: String
}

/// A `wal/` directory laid out for replay, as Prometheus chooses what to read
/// (`tsdb/head.go Head.Init`): the newest `checkpoint.NNNNNNNN` directory, then the segments
/// numbered above it, in order.
///
/// Names are numbers of any width (`00000012` is 12). Segments at or below the checkpoint's
/// number, older checkpoints and unfinished ones (`checkpoint.N.tmp`) are listed in `ignored`;
/// numbers missing between the checkpoint and the last segment in `missingSegments`.
public struct WALDirectory: Sendable {
    public struct Checkpoint: Sendable, Equatable {
        /// The last segment number the checkpoint replaces.
        public var index: Int
        public var path: String
        public var segments: [WALSegmentFile]
    }

    public let path: String
    public let checkpoint: Checkpoint?
    /// Segments after the checkpoint (all of them when there is none), ascending.
    public let segments: [WALSegmentFile]
    public let ignored: [String]
    public let missingSegments: [Int]

    public init(path: String) throws(TSDBError) {
        self.path = path
        let names = try Self.list(path)
        var segs: [WALSegmentFile] = []
        var checkpoints: [(Int, String)] = []
        var ignored: [String] = []
        for name in names {
            let full = path + "/" + name
            if let n = Self.number(name) {
                if Self.isDirectory(full) { ignored.append(full) } else { segs.append(WALSegmentFile(index: n, path: full)) }
            } else if name.hasPrefix("checkpoint."), let n = Self.number(String(name.dropFirst("checkpoint.".count))),
                      Self.isDirectory(full) {
                checkpoints.append((n, full))
            } else {
                ignored.append(full)
            }
        }
        segs.sort { $0.index < $1.index }
        checkpoints.sort { $0.0 < $1.0 }
        var cp: Checkpoint? = nil
        if let (n, dir) = checkpoints.last {
            let inner = try Self.list(dir).compactMap { name -> WALSegmentFile? in
                guard let k = Self.number(name) else { ignored.append(dir + "/" + name); return nil }
                return WALSegmentFile(index: k, path: dir + "/" + name)
            }.sorted { $0.index < $1.index }
            cp = Checkpoint(index: n, path: dir, segments: inner)
            ignored += checkpoints.dropLast().map { $0.1 }
            ignored += segs.filter { $0.index <= n }.map(\.path)
            segs.removeAll { $0.index <= n }
        }
        var missing: [Int] = []
        var expect = cp.map { $0.index + 1 } ?? segs.first?.index ?? 0
        for s in segs {
            if s.index > expect { missing += Array(expect..<min(s.index, expect + 1000)) }
            expect = s.index + 1
        }
        self.checkpoint = cp
        self.segments = segs
        self.ignored = ignored.sorted()
        self.missingSegments = missing
    }

    /// Checkpoint segments, then WAL segments: the order records are replayed in.
    public var replayOrder: [WALSegmentFile] { (checkpoint?.segments ?? []) + segments }

    static func number(_ s: String) -> Int? {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int(s)
    }

    static func isDirectory(_ path: String) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
    }

    static func list(_ path: String) throws(TSDBError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        } catch {
            throw TSDBError(.io, file: path, offset: 0, "cannot list directory: \(error.localizedDescription)")
        }
    }
}
