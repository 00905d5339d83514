import ArgumentParser
import Foundation
import BlockOps
import Logging
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
        return catalog(b, remote: remote)
    }

    /// The catalog of a bucket, with the meta cache when the bucket is remote.
    func catalog(_ b: any Bucket, remote: Bool) -> BucketCatalog {
        var cache: String? = nil
        if remote && cacheDir != "none" {
            let base = cacheDir ?? (ProcessInfo.processInfo.environment["XDG_CACHE_HOME"]
                ?? (NSHomeDirectory() + "/.cache")) + "/blockyard"
            cache = base + "/meta/" + Self.slug(b.description)
        }
        return BucketCatalog(bucket: b, cacheDirectory: cache, concurrency: metaConcurrency)
    }

    /// `--all-containers`: the account (AZURE, `container` ignored) or directory of containers
    /// (a local path or FILESYSTEM config, one subdirectory per container), and whether it is remote.
    func account(path: String?) async throws -> (any BucketAccount, Bool) {
        if let path {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
                throw ObjectStoreError(.notFound, bucket: path, key: "", "not a directory")
            }
            return (FilesystemAccount(directory: path), false)
        }
        let cfg = try BucketConfig.load(file: configFile, inline: configYAML, accountLevel: true)
        return (try await BucketFactory.makeAccount(cfg, logger: log.logger("blockyard.objstore")), cfg.kind == .azure)
    }

    /// A directory name for a bucket description (which never holds secrets).
    static func slug(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" }.prefix(120))
    }
}

/// The destination of `replicate`: `--objstore-to.config-file` / `--objstore-to.config` (Thanos'
/// names), or a local directory with `--to`.
struct DestinationBucketOptions: ParsableArguments {
    @Option(name: .customLong("objstore-to.config-file"), help: "Destination objstore YAML file (type AZURE or FILESYSTEM).")
    var configFile: String?

    @Option(name: .customLong("objstore-to.config"), help: "Destination objstore YAML given inline.")
    var configYAML: String?

    @Option(name: .customLong("to"), help: "Destination as a local directory (instead of an objstore config).")
    var to: String?

    func validate() throws {
        let given = [configFile, configYAML, to].compactMap { $0 }.count
        if given == 0 { throw ValidationError("no destination: give --objstore-to.config-file, --objstore-to.config or --to DIR") }
        if given > 1 { throw ValidationError("give one of --objstore-to.config-file, --objstore-to.config, --to") }
    }

    func bucket(logger: Logger) async throws -> any Bucket {
        if let to {
            try FileManager.default.createDirectory(atPath: to, withIntermediateDirectories: true)
            return FilesystemBucket(directory: to)
        }
        do {
            let cfg = try BucketConfig.load(file: configFile, inline: configYAML)
            return try await BucketFactory.make(cfg, logger: logger)
        } catch {
            // Name the side: both configs use the same field names.
            throw ObjectStoreError(error.kind, bucket: "destination " + error.bucket, key: error.key, error.detail)
        }
    }
}
