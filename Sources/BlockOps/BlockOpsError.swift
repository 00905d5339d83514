/// Errors from operations (as opposed to bytes that fail to decode, which are `TSDBError`).
public enum BlockOpsError: Error, CustomStringConvertible, Sendable {
    case notFound(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .notFound(let s): "not found: \(s)"
        case .invalid(let s): s
        }
    }

    public var exitCode: Int32 {
        switch self {
        case .notFound: 3
        case .invalid: 64
        }
    }
}
