import Benchmark
import BlockOps
import Foundation
import TSDB

/// Fixture blocks, found from this file's location (Benchmarks/Benchmarks/TSDBBenchmarks/).
let repoRoot: String = {
    var u = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { u.deleteLastPathComponent() }
    return u.path
}()

/// Every XOR chunk payload of the fixture blocks, copied into memory once, with the
/// number of samples they hold. BENCH_BLOCKS=dir1:dir2 points at other blocks (e.g. the
/// large ones scripts/bench-vs-promtool.sh generates).
struct XORCorpus {
    var chunks: [[UInt8]] = []
    var samples = 0

    init() {
        let env = ProcessInfo.processInfo.environment["BENCH_BLOCKS"]
        let roots = env.map { $0.split(separator: ":").map(String.init) }
            ?? ["bulk", "values", "timing", "types", "labels"].map { repoRoot + "/fixtures/blocks/" + $0 } + [repoRoot + "/fixtures/demo-bucket"]
        for r in roots {
            for dir in (try? Block.directories(at: r)) ?? [] {
                guard let b = try? Block(directory: dir), let refs = try? b.index.allPostings() else { continue }
                var l: [LabelRef] = []
                var c: [ChunkMeta] = []
                for ref in refs {
                    guard (try? b.index.series(ref, labels: &l, chunks: &c)) != nil else { continue }
                    for m in c {
                        guard let raw = try? b.chunks.chunk(m.ref), raw.encoding == .xor else { continue }
                        let bytes = raw.withData { Array($0) }
                        chunks.append(bytes)
                        samples += Int(bytes[0]) << 8 | Int(bytes[1])
                    }
                }
            }
        }
    }
}

nonisolated(unsafe) let corpus = XORCorpus()

let benchmarks: @Sendable () -> Void = {
    // BLOCKYARD_BENCH_SMOKE=1 (scripts/bench-smoke.sh, CI): a few iterations to prove
    // the benchmarks build and run; the figures are not a measurement.
    let smoke = ProcessInfo.processInfo.environment["BLOCKYARD_BENCH_SMOKE"] != nil
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .instructions],
        warmupIterations: smoke ? 0 : 2,
        maxDuration: smoke ? .milliseconds(300) : .seconds(3),
        maxIterations: smoke ? 3 : 200
    )

    // One iteration decodes every sample of every XOR chunk in the corpus. The custom
    // metric ns_per_sample_x100 is nanoseconds per sample times 100 (integers only); the
    // foundation issue targets <= 6 ns, i.e. <= 600.
    Benchmark("XOR.decode",
              configuration: .init(metrics: [.wallClock, .mallocCountTotal, .custom("ns_per_sample_x100", polarity: .prefersSmaller, useScalingFactor: false)],
                                   warmupIterations: smoke ? 0 : 2, maxDuration: smoke ? .milliseconds(300) : .seconds(3),
                                   maxIterations: smoke ? 3 : 200)) { benchmark in
        precondition(corpus.samples > 0, "no XOR chunks found: run scripts/make-fixtures.sh or set BENCH_BLOCKS")
        var sink: Double = 0
        var ts: Int64 = 0
        let start = ContinuousClock.now
        benchmark.startMeasurement()
        for c in corpus.chunks {
            c.withUnsafeBytes { p in
                guard var it = try? XORIterator(p) else { return }
                while (try? it.next()) == true {
                    ts &+= it.timestamp
                    sink += it.value
                }
            }
        }
        benchmark.stopMeasurement()
        let elapsed = ContinuousClock.now - start
        let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        benchmark.measurement(.custom("ns_per_sample_x100", polarity: .prefersSmaller, useScalingFactor: false),
                              Int((ns / Double(corpus.samples) * 100).rounded()))  // hundredths of a ns
        blackHole(sink)
        blackHole(ts)
    }

    // Walks every series entry of every fixture index (CRC check + decode), the hot loop
    // of analyze and verify.
    Benchmark("Index.scanSeries") { benchmark in
        for r in ["bulk", "labels"] {
            for dir in (try? Block.directories(at: repoRoot + "/fixtures/blocks/" + r)) ?? [] {
                guard let b = try? Block(directory: dir), let refs = try? b.index.allPostings() else { continue }
                var l: [LabelRef] = []
                var c: [ChunkMeta] = []
                for ref in refs { try? b.index.series(ref, labels: &l, chunks: &c) }
                blackHole(l.count + c.count)
            }
        }
    }
}
