import Crypto

/// MD5, the integrity hash Azure Blob reports (Content-MD5); not used for security.
public enum MD5 {
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        Array(Insecure.MD5.hash(data: bytes))
    }

    /// Incremental hashing for streamed uploads and downloads.
    public struct Hasher {
        var inner = Insecure.MD5()
        public init() {}
        public mutating func update(_ p: UnsafeRawBufferPointer) { inner.update(bufferPointer: p) }
        public mutating func update(_ b: [UInt8]) { inner.update(data: b) }
        public func finalize() -> [UInt8] { Array(inner.finalize()) }
    }
}
