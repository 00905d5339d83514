/// Bytes of a WAL segment that could not be read and were skipped.
///
/// `offset` is where the damage was found (the start of the bad fragment, or of the record
/// it broke); reading resumed at `resumeOffset` in the same file (the file's size when the
/// rest of the file was given up). Everything before `offset` and from `resumeOffset` on was
/// read normally.
public struct WALDamage: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var offset: Int
    public var resumeOffset: Int
    /// The first problem found in the skipped span.
    public var error: TSDBError
    /// Whole or partial records that were dropped (at least this many; fragments whose
    /// record cannot be told are counted once per run).
    public var recordsLost: Int
    /// Fragments with a readable header that were dropped (the bad one included).
    public var fragmentsSkipped: Int

    public init(file: String, offset: Int, resumeOffset: Int, error: TSDBError, recordsLost: Int, fragmentsSkipped: Int) {
        self.file = file
        self.offset = offset
        self.resumeOffset = resumeOffset
        self.error = error
        self.recordsLost = recordsLost
        self.fragmentsSkipped = fragmentsSkipped
    }

    public var description: String {
        "\(file): offset \(offset): \(error.kind.rawValue): \(error.detail); skipped bytes \(offset)..<\(resumeOffset)"
            + " (\(recordsLost) record\(recordsLost == 1 ? "" : "s"), \(fragmentsSkipped) fragment\(fragmentsSkipped == 1 ? "" : "s"))"
    }
}

/// The end of the log cut off mid-record: the normal state after a crash, not an error.
public struct WALTornTail: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// Where the incomplete record starts; the file ends at `fileSize`.
    public var offset: Int
    public var fileSize: Int
    public var detail: String

    public var description: String {
        "\(file): torn tail at offset \(offset) (\(fileSize - offset) bytes of an incomplete record): \(detail)"
    }
}
