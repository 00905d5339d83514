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

import Dispatch

/// Runs CPU-bound synchronous work (a merge, a block check) on a Dispatch thread, outside
/// Swift's cooperative pool, so a long merge never starves the async tasks that move bytes
/// or watch timeouts of the pool's few threads.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
        DispatchQueue.global(qos: .userInitiated).async { c.resume(with: Result { try body() }) }
    }
}
