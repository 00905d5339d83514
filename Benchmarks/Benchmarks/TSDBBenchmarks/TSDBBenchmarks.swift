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
        for r in benchmarkBlockRoots() {
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

/// The directories of blocks the benchmarks read: BENCH_BLOCKS (colon-separated), or the
/// fixture block sets.
func benchmarkBlockRoots() -> [String] {
    ProcessInfo.processInfo.environment["BENCH_BLOCKS"].map { $0.split(separator: ":").map(String.init) }
        ?? ["bulk", "values", "timing", "types", "labels"].map { repoRoot + "/fixtures/blocks/" + $0 } + [repoRoot + "/fixtures/demo-bucket"]
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

    let nsMetric = BenchmarkMetric.custom("ns_per_sample_x100", polarity: .prefersSmaller, useScalingFactor: false)
    let xorConfig = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal, .instructions, nsMetric],
        warmupIterations: smoke ? 0 : 2, maxDuration: smoke ? .milliseconds(300) : .seconds(3),
        maxIterations: smoke ? 3 : 200)

    // One iteration decodes every sample of every XOR chunk in the corpus with the bulk
    // decoder on one core. ns_per_sample_x100 is nanoseconds per sample times 100
    // (metrics are integers); the foundation issue's target is <= 6 ns, i.e. <= 600.
    Benchmark("XOR.decode", configuration: xorConfig) { benchmark in
        precondition(corpus.samples > 0, "no XOR chunks found: run scripts/make-fixtures.sh or set BENCH_BLOCKS")
        let start = ContinuousClock.now
        benchmark.startMeasurement()
        blackHole(decodeChunks(corpus.chunks[...]))
        benchmark.stopMeasurement()
        benchmark.measurement(nsMetric, nsPerSample(since: start, samples: corpus.samples))
    }

    // The same work split over two threads (this machine has two cores): the throughput
    // a command that decodes chunks in parallel (dump, verify --deep) gets.
    Benchmark("XOR.decode.2cores", configuration: xorConfig) { benchmark in
        let half = corpus.chunks.count / 2
        let start = ContinuousClock.now
        benchmark.startMeasurement()
        let other = Thread2 { decodeChunks(corpus.chunks[half...]) }
        let mine = decodeChunks(corpus.chunks[..<half])
        blackHole(mine &+ other.join())
        benchmark.stopMeasurement()
        benchmark.measurement(nsMetric, nsPerSample(since: start, samples: corpus.samples))
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

    // Opens every index of the benchmark blocks: TOC, symbol table and postings offset table
    // parsed (CRCs checked), what every command pays before its first series. Point
    // BENCH_BLOCKS at a block with many label values (scripts/bench-verify.sh's
    // analyze-s400000) to see the postings offset table's share.
    Benchmark("Index.open") { benchmark in
        for root in benchmarkBlockRoots() {
            for dir in (try? Block.directories(at: root)) ?? [] {
                blackHole(try? IndexReader(path: dir + "/index").symbolCount)
            }
        }
    }

    downsampleBenchmarks(smoke: smoke)
}

/// Decodes chunks with the bulk decoder into one reused buffer; returns a checksum.
func decodeChunks(_ chunks: ArraySlice<[UInt8]>) -> Int {
    let ts = UnsafeMutableBufferPointer<Int64>.allocate(capacity: 65536)
    let vs = UnsafeMutableBufferPointer<Double>.allocate(capacity: 65536)
    defer { ts.deallocate(); vs.deallocate() }
    var sum = 0
    for c in chunks {
        c.withUnsafeBytes { p in
            let n = (try? XORIterator.decode(p, timestamps: ts, values: vs)) ?? 0
            if n > 0 { sum &+= Int(truncatingIfNeeded: ts[n - 1]) &+ Int(truncatingIfNeeded: vs[n - 1].bitPattern) }
        }
    }
    return sum
}

func nsPerSample(since start: ContinuousClock.Instant, samples: Int) -> Int {
    let e = ContinuousClock.now - start
    let ns = Double(e.components.seconds) * 1e9 + Double(e.components.attoseconds) / 1e9
    return Int((ns / Double(samples) * 100).rounded())
}

/// A plain thread running one closure (no task-pool hops inside the measurement).
final class Thread2: @unchecked Sendable {
    private var result = 0
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () -> Int) {
        Thread { [self] in
            result = body()
            done.signal()
        }.start()
    }

    func join() -> Int {
        done.wait()
        return result
    }
}
