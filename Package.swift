// swift-tools-version: 6.1
// blockyard: offline tooling for Thanos/Prometheus TSDB blocks in Azure Blob containers.
// Layers (see docs/architecture.md): blockyard CLI -> BlockOps -> {TSDB, ObjectStore}; C shims at the bottom.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6)
]

let package = Package(
    name: "blockyard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "blockyard", targets: ["BlockyardCLI"]),
        .library(name: "TSDB", targets: ["TSDB"]),
        .library(name: "ObjectStore", targets: ["ObjectStore"]),
        .library(name: "BlockOps", targets: ["BlockOps"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // C: hardware CRC32C (SSE4.2 / ARMv8 CRC) with a portable fallback.
        .target(name: "CCRC32C", path: "Sources/CCRC32C"),
        // C: libcurl opened on first use (dlopen; only its headers at build time), with typed
        // wrappers around its variadic curl_easy_setopt.
        .target(
            name: "CCurl", path: "Sources/CCurl",
            linkerSettings: [.linkedLibrary("dl")]),
        .systemLibrary(
            name: "CSnappy", path: "Sources/CSnappy", pkgConfig: "snappy",
            providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(
            name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]),

        .target(
            name: "TSDB", dependencies: ["CCRC32C", "CSnappy", "CZstd"],
            swiftSettings: swiftSettings),
        .target(
            name: "ObjectStore",
            dependencies: [
                "CCurl",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "BlockOps",
            dependencies: [
                "TSDB", "ObjectStore", .product(name: "Logging", package: "swift-log"),
                // Relabel configs (YAML) and hashmod (MD5) for rewrite.
                .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "BlockyardCLI",
            dependencies: [
                "BlockOps", "TSDB", "ObjectStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        // Fixture paths, temp directories, the promtool oracle and corruption helpers.
        .target(name: "TestSupport", dependencies: ["TSDB", "ObjectStore"], path: "Tests/Support", swiftSettings: swiftSettings),
        .testTarget(name: "TSDBTests", dependencies: ["TSDB", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "ObjectStoreTests", dependencies: ["ObjectStore", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "BlockOpsTests", dependencies: ["BlockOps", "TSDB", "ObjectStore", "TestSupport"],
            swiftSettings: swiftSettings),
    ]
)
