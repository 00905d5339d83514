import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension AzureEmulator {
    /// Uploads (PutBlob and PutBlockList requests) since the stats were last cleared.
    public func uploads() throws -> Int {
        let s = try stats()
        return s.requests("PutBlob") + s.requests("PutBlockList")
    }

    /// Lets the first `k` PUTs through and refuses every later one, starts the process,
    /// and SIGKILLs it as soon as it tries a refused PUT (or after `timeout` seconds): what
    /// the bucket then holds is what a kill at that upload leaves. The faults are cleared
    /// afterwards.
    public func killAtUpload(_ k: Int, timeout: Double = 60, start: () throws -> Process) throws {
        try setFaults("""
            [{"method": "PUT", "times": \(k), "action": {"stall_ms": 0}},
             {"method": "PUT", "times": -1, "action": {"reset": true}}]
            """)
        let child = try start()
        let deadline = Date().addingTimeInterval(timeout)
        while child.isRunning, Date() < deadline {
            if try stats().faultsInjected > k { break }
            usleep(2000)
        }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        try clearFaults()
    }
}
