import ArgumentParser
import BlockOps
import ObjectStore
import TSDB

#if canImport(Glibc)
import Glibc
#endif

/// Exit codes documented in `blockyard --help` and the README.
enum Exit {
    static let findings: Int32 = 1
    static let badData: Int32 = 2
    static let storage: Int32 = 3
    /// repair: blocks were repaired, but data had to be dropped.
    static let dataDropped: Int32 = 4
    static let usage: Int32 = 64
}

func printError(_ message: String) {
    var s = "blockyard: error: " + message + "\n"
    s.withUTF8 { p in _ = Glibc.write(2, p.baseAddress, p.count) }
}

/// Runs a command body, turning library errors into a one-line message on stderr and the
/// documented exit code (instead of ArgumentParser's generic failure).
func withExitCodes<R>(_ body: () async throws -> R) async throws -> R {
    do {
        return try await body()
    } catch let e as TSDBError {
        printError(e.description)
        throw ExitCode(e.kind == .io ? Exit.storage : Exit.badData)
    } catch let e as SelectorError {
        printError(e.description)
        throw ExitCode(Exit.usage)
    } catch let e as OutputError {
        printError(e.description)
        throw ExitCode(Exit.storage)
    } catch let e as ObjectStoreError {
        printError(e.description)
        throw ExitCode([.config, .invalidArgument].contains(e.kind) ? Exit.usage : Exit.storage)
    } catch let e as CompactionInputError {
        printError(e.description)
        throw ExitCode(Exit.badData)
    } catch let e as BlockOpsError {
        printError(e.description)
        throw ExitCode(e.exitCode)
    }
}
