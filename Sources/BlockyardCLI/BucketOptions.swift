import ArgumentParser
import Foundation
import BlockOps
import ObjectStore

/// Where the blocks are: a plain local directory (a FILESYSTEM bucket), or the objstore
/// YAML Thanos components read (`--objstore.config-file` / `--objstore.config`).
struct BucketOptions: ParsableArguments {
    @Option(name: .customLong("objstore.config-file"), help: "Thanos objstore YAML file (type AZURE or FILESYSTEM).")
    var configFile: String?

    @Option(name: .customLong("objstore.config"), help: "Thanos objstore YAML given inline.")
    var configYAML: String?

    @Option(name: .customLong("cache-dir"), help: "Where fetched meta.json files are cached by ULID (default ~/.cache/blockyard; 'none' disables).")
    var cacheDir: String?

    @Option(name: .customLong("block-meta-fetch-concurrency"), help: "Parallel meta.json fetches.")
    var metaConcurrency: Int = 32

    @OptionGroup var log: LogOptions

    func validate(path: String?) throws {
        if path != nil && (configFile != nil || configYAML != nil) {
            throw ValidationError("give a directory or --objstore.config-file/--objstore.config, not both")
        }
        if path == nil && configFile == nil && configYAML == nil {
            throw ValidationError("no bucket: give a directory, --objstore.config-file or --objstore.config")
        }
        if configFile != nil && configYAML != nil {
            throw ValidationError("give --objstore.config-file or --objstore.config, not both")
        }
        if metaConcurrency < 1 { throw ValidationError("--block-meta-fetch-concurrency must be >= 1") }
    }

    /// The bucket, and whether it is remote (remote buckets get a meta cache).
    func bucket(path: String?) async throws -> (any Bucket, Bool) {
        if let path {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
                throw ObjectStoreError(.notFound, bucket: path, key: "", "not a directory")
            }
            return (FilesystemBucket(directory: path), false)
        }
        let cfg = try BucketConfig.load(file: configFile, inline: configYAML)
        return (try await BucketFactory.make(cfg, logger: log.logger("blockyard.objstore")), cfg.kind == .azure)
    }

    func catalog(path: String?) async throws -> BucketCatalog {
        let (b, remote) = try await bucket(path: path)
        var cache: String? = nil
        if remote && cacheDir != "none" {
            let base = cacheDir ?? (ProcessInfo.processInfo.environment["XDG_CACHE_HOME"]
                ?? (NSHomeDirectory() + "/.cache")) + "/blockyard"
            cache = base + "/meta/" + Self.slug(b.description)
        }
        return BucketCatalog(bucket: b, cacheDirectory: cache, concurrency: metaConcurrency)
    }

    /// A directory name for a bucket description (which never holds secrets).
    static func slug(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" }.prefix(120))
    }
}
