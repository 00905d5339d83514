import ArgumentParser
import Foundation
import Logging
import ObjectStore

/// The flag prefix and purpose of a second bucket a command talks to, besides the one of
/// `BucketOptions` (`--objstore-backup.*` for repair's backups; replicate's
/// `--objstore-to.*` fits the same pattern).
protocol SecondBucketRole {
    /// `objstore-backup` gives `--objstore-backup.config-file` and `--objstore-backup.config`.
    static var flag: String { get }
    /// What the bucket is for, for `--help`.
    static var purpose: String { get }
}

/// A second bucket, configured with the same objstore YAML as the first, as a file or inline.
struct SecondBucketOptions<Role: SecondBucketRole>: ParsableArguments {
    @Option(name: .customLong(Role.flag + ".config-file"), help: ArgumentHelp("Objstore YAML file of the bucket \(Role.purpose)."))
    var configFile: String?

    @Option(name: .customLong(Role.flag + ".config"), help: ArgumentHelp("The same YAML given inline."))
    var configYAML: String?

    func validate() throws {
        if configFile != nil && configYAML != nil {
            throw ValidationError("give --\(Role.flag).config-file or --\(Role.flag).config, not both")
        }
    }

    var isGiven: Bool { configFile != nil || configYAML != nil }

    /// The bucket, or nil when neither flag is given.
    func bucket(logger: Logger) async throws -> (any Bucket)? {
        guard isGiven else { return nil }
        let cfg = try BucketConfig.load(file: configFile, inline: configYAML)
        return try await BucketFactory.make(cfg, logger: logger)
    }
}

enum BackupBucket: SecondBucketRole {
    static let flag = "objstore-backup"
    static let purpose = "that originals are copied to before they are marked for deletion"
}
