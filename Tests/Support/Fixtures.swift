import Foundation
import TSDB

/// Paths of the committed fixtures and helpers shared by the test targets.
public enum Fixtures {
    /// The repository root, found from this file's location.
    public static let root: String = {
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { u.deleteLastPathComponent() }
        return u.path
    }()

    public static var fixtures: String { root + "/fixtures" }

    /// Directories of promtool-made block sets under fixtures/blocks (each holds block dirs).
    public static var blockSets: [String] {
        let dir = fixtures + "/blocks"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.sorted().map { dir + "/" + $0 }.filter { isDirectory($0) }
    }

    /// Every block directory in the fixtures (block sets, demo bucket, native histograms).
    public static var allBlocks: [String] {
        var out: [String] = []
        for set in blockSets + [fixtures + "/demo-bucket", fixtures + "/native-histograms"] where isDirectory(set) {
            out += (try? Block.directories(at: set)) ?? []
        }
        return out
    }

    public static func isDirectory(_ p: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: p, isDirectory: &d) && d.boolValue
    }

    /// A fresh temporary directory, removed by the caller with `cleanup`.
    public static func tempDir(_ tag: String = "t") throws -> String {
        let p = NSTemporaryDirectory() + "blockyard-test-\(tag)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    public static func cleanup(_ p: String) { try? FileManager.default.removeItem(atPath: p) }

    /// Copies block directories into a fresh temp dir (promtool wants a DB dir it may write into).
    public static func copyBlocks(_ dirs: [String]) throws -> String {
        let t = try tempDir("db")
        for d in dirs {
            try FileManager.default.copyItem(atPath: d, toPath: t + "/" + (d as NSString).lastPathComponent)
        }
        return t
    }
}

/// Runs Debian's promtool (Prometheus 2.42), the oracle for dump and analyze.
public enum Promtool {
    public static let path = "/usr/bin/promtool"
    public static var available: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Runs `promtool args...`, returning stdout; throws with stderr on failure.
    public static func run(_ args: [String]) throws -> String {
        try Run.capture(path, args)
    }

    /// `promtool tsdb dump` of a copy of the given blocks (2.42 needs a wal/ dir in the DB).
    public static func dump(_ blocks: [String], extra: [String] = []) throws -> String {
        let db = try Fixtures.copyBlocks(blocks)
        defer { Fixtures.cleanup(db) }
        try FileManager.default.createDirectory(atPath: db + "/wal", withIntermediateDirectories: true)
        return try run(["tsdb", "dump"] + extra + [db])
    }

    public static func analyze(_ block: String, limit: Int) throws -> String {
        let db = try Fixtures.copyBlocks([block])
        defer { Fixtures.cleanup(db) }
        try FileManager.default.createDirectory(atPath: db + "/wal", withIntermediateDirectories: true)
        return try run(["tsdb", "analyze", "--limit=\(limit)", db])
    }
}

public struct RunError: Error, CustomStringConvertible {
    public var status: Int32
    public var stderr: String
    public var description: String { "exit \(status): \(stderr)" }
}

public enum Run {
    /// Runs a program, returning (status, stdout, stderr).
    public static func run(_ exe: String, _ args: [String], env: [String: String]? = nil) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        if let env { p.environment = env }
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both pipes concurrently so a full stderr pipe cannot stall the child.
        nonisolated(unsafe) var errData = Data()
        let g = DispatchGroup()
        g.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            g.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        g.wait()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    public static func capture(_ exe: String, _ args: [String]) throws -> String {
        let (s, o, e) = try run(exe, args)
        guard s == 0 else { throw RunError(status: s, stderr: e) }
        return o
    }
}

/// Deterministic pseudo-random numbers for corruption tests (SplitMix64).
public struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Promtool {
    /// Blocks made by `promtool tsdb create-blocks-from openmetrics` from `text` (an
    /// OpenMetrics exposition ending in `# EOF`), written into a fresh directory; returns
    /// the block directories in time order.
    public static func createBlocks(openMetrics text: String, tag: String = "om") throws -> (dir: String, blocks: [String]) {
        let dir = try Fixtures.tempDir(tag)
        let input = dir + "/input.om"
        try text.write(toFile: input, atomically: true, encoding: .utf8)
        _ = try run(["tsdb", "create-blocks-from", "openmetrics", input, dir + "/blocks"])
        return (dir, try Block.directories(at: dir + "/blocks"))
    }
}
