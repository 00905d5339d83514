/// A problem found while reading (or refusing to read) TSDB bytes.
///
/// Every decoder reports *what* went wrong and *where*: the file, the section of the
/// format, and the absolute byte offset in that file. Low-level decoders only know the
/// offset; the readers that own a file fill in `file` and `section` with `located(...)`.
public struct TSDBError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// Fewer bytes than the format requires.
        case truncated
        /// A CRC32C did not match.
        case checksum
        /// Bytes that cannot be what the format says (bad magic, impossible length, ...).
        case corrupt
        /// A valid-looking format that blockyard does not read (unknown version or encoding).
        case unsupported
        /// The operating system refused (open, stat, mmap, read).
        case io
    }

    public var kind: Kind
    public var file: String
    public var section: String
    public var offset: Int
    public var detail: String

    public init(_ kind: Kind, file: String = "", section: String = "", offset: Int, _ detail: String) {
        self.kind = kind
        self.file = file
        self.section = section
        self.offset = offset
        self.detail = detail
    }

    /// Fills in the file and section when a lower layer did not know them.
    public func located(file: String, section: String) -> TSDBError {
        var e = self
        if e.file.isEmpty { e.file = file }
        if e.section.isEmpty { e.section = section }
        return e
    }

    public var description: String {
        var s = file.isEmpty ? "" : "\(file): "
        if !section.isEmpty { s += "\(section): " }
        return s + "\(kind.rawValue) at offset \(offset): \(detail)"
    }
}
