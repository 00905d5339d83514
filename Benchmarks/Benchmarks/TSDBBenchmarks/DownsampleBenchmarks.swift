import Benchmark
import BlockOps
import Foundation
import TSDB

/// Every float series of the fixture blocks (or of BENCH_BLOCKS=dir1:dir2, e.g. the large
/// blocks scripts/bench-downsample.sh generates) as the downsampler reads them: chunks of
/// the memory-mapped segment files, with the number of raw samples they hold.
struct RawCorpus {
    var series: [[SeriesChunk]] = []
    var samples = 0
    var blocks: [Block] = []

    init() {
        for r in benchmarkBlockRoots() {
            for dir in (try? Block.directories(at: r)) ?? [] {
                guard let b = try? Block(directory: dir), b.meta.resolution == 0, let refs = try? b.index.allPostings() else { continue }
                blocks.append(b)
                var l: [LabelRef] = []
                var c: [ChunkMeta] = []
                for ref in refs {
                    guard (try? b.index.series(ref, labels: &l, chunks: &c)) != nil else { continue }
                    var s: [SeriesChunk] = []
                    for m in c {
                        guard let raw = try? b.chunks.chunk(m.ref), raw.encoding == .xor else { continue }
                        s.append(SeriesChunk(meta: m, raw: raw))
                        samples += raw.withData { Int($0[0]) << 8 | Int($0[1]) }
                    }
                    if !s.isEmpty { series.append(s) }
                }
            }
        }
    }
}

let rawCorpus = RawCorpus()

/// Downsampling benchmarks, registered from `benchmarks` (TSDBBenchmarks.swift).
func downsampleBenchmarks(smoke: Bool) {
    let rate = BenchmarkMetric.custom("msamples_per_s_x10", polarity: .prefersLarger, useScalingFactor: false)
    let cpuRate = BenchmarkMetric.custom("msamples_per_cpu_s_x10", polarity: .prefersLarger, useScalingFactor: false)
    let config = Benchmark.Configuration(
        metrics: [.wallClock, .cpuUser, .mallocCountTotal, .instructions, rate, cpuRate],
        warmupIterations: smoke ? 0 : 2, maxDuration: smoke ? .milliseconds(300) : .seconds(5),
        maxIterations: smoke ? 3 : 100)

    // One iteration downsamples every raw series of the corpus to 5m on one core: XOR
    // decoding, Thanos' window aggregation and the five XOR encodings of every aggregate
    // chunk. msamples_per_s_x10 is raw samples per second in millions, times 10 (metrics
    // are integers): the target of 40 M/s is 400. msamples_per_cpu_s_x10 is the
    // same per second of this thread's CPU time, which a busy shared machine does not
    // distort (wall clock there includes time the core spent on other processes).
    Benchmark("Downsample.raw5m", configuration: config) { benchmark in
        precondition(rawCorpus.samples > 0, "no raw XOR chunks found: run scripts/make-fixtures.sh or set BENCH_BLOCKS")
        let d = SeriesDownsampler(inputResolution: 0, resolution: 300_000)
        let start = ContinuousClock.now
        let cpu = threadCPUSeconds()
        benchmark.startMeasurement()
        var windows = 0
        for s in rawCorpus.series { windows &+= ((try? d.downsample(s)) ?? []).reduce(0) { $0 &+ $1.windows } }
        benchmark.stopMeasurement()
        blackHole(windows)
        let e = (ContinuousClock.now - start).components
        benchmark.measurement(rate, millionsPerSecond(rawCorpus.samples, Double(e.seconds) + Double(e.attoseconds) / 1e18))
        benchmark.measurement(cpuRate, millionsPerSecond(rawCorpus.samples, threadCPUSeconds() - cpu))
    }
}

func millionsPerSecond(_ n: Int, _ seconds: Double) -> Int {
    Int((Double(n) / seconds / 1e6 * 10).rounded())
}

/// CPU time of the calling thread, in seconds.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
