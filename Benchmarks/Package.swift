// swift-tools-version: 6.1
// Benchmarks for blockyard (package-benchmark). Kept out of the main package so that
// ordinary builds and tests do not compile the benchmark harness.
//
//   cd Benchmarks && swift package benchmark                 # full run
//   cd Benchmarks && swift package benchmark --filter 'XOR.*'
import PackageDescription

let package = Package(
    name: "blockyard-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "blockyard", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "TSDBBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TSDB", package: "blockyard"),
                .product(name: "BlockOps", package: "blockyard"),
            ],
            path: "Benchmarks/TSDBBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
