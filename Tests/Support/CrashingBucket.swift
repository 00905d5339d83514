import Foundation
import ObjectStore

/// A bucket that "dies" after a budget of writes: the first `writes` uploads and deletes go
/// through, and from then on every call fails, as if the process had been killed at that
/// moment. What the underlying bucket holds afterwards is exactly what a crash there leaves.
public final class CrashingBucket: Bucket, @unchecked Sendable {
    public let base: any Bucket
    private let lock = NSLock()
    private var left: Int
    public private(set) var writesSeen = 0
    public var crashed: Bool { lock.withLock { left < 0 } }

    public init(_ base: any Bucket, writes: Int) {
        self.base = base
        left = writes
    }

    public var description: String { "crashing " + base.description }

    private func dead() -> ObjectStoreError {
        ObjectStoreError(.transport, bucket: description, key: "", "the process is gone (simulated crash)")
    }

    private func check() throws(ObjectStoreError) {
        if lock.withLock({ left < 0 }) { throw dead() }
    }

    /// Spends one write; throws once the budget is gone.
    private func write() throws(ObjectStoreError) {
        let ok = lock.withLock { () -> Bool in
            writesSeen += 1
            left -= 1
            return left >= 0
        }
        if !ok { throw dead() }
    }

    public func list(prefix: String, recursive: Bool) async throws(ObjectStoreError) -> [String] {
        try check()
        return try await base.list(prefix: prefix, recursive: recursive)
    }

    public func getRange(_ key: String, offset: Int64, length: Int64?) async throws(ObjectStoreError) -> [UInt8] {
        try check()
        return try await base.getRange(key, offset: offset, length: length)
    }

    public func attributes(_ key: String) async throws(ObjectStoreError) -> ObjectAttributes {
        try check()
        return try await base.attributes(key)
    }

    public func download(_ key: String, toFile path: String) async throws(ObjectStoreError) {
        try check()
        try await base.download(key, toFile: path)
    }

    public func upload(_ key: String, bytes: [UInt8]) async throws(ObjectStoreError) {
        try write()
        try await base.upload(key, bytes: bytes)
    }

    public func upload(_ key: String, fromFile path: String) async throws(ObjectStoreError) {
        try write()
        try await base.upload(key, fromFile: path)
    }

    public func delete(_ key: String) async throws(ObjectStoreError) {
        try write()
        try await base.delete(key)
    }
}

/// The `blockyard` executable that `swift build` made next to the tests.
public enum BlockyardBinary {
    public static var path: String {
        if let p = ProcessInfo.processInfo.environment["BLOCKYARD_BIN"] { return p }
        return Fixtures.root + "/.build/debug/blockyard"
    }
}
