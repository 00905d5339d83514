import Foundation
import TSDB

/// What a listing knows about one block directory: its meta.json (absent for a partial
/// upload), markers, and total size in bytes.
public struct BlockEntry: Sendable {
    public var ulid: ULID
    public var meta: BlockMeta?
    public var metaError: String?
    public var markers: [MarkerKind]
    public var sizeBytes: Int64
    public var isPartial: Bool { meta == nil && metaError == nil }
}

/// Lists the blocks of a local directory laid out like a Thanos bucket (`<ULID>/meta.json`).
public enum LocalCatalog {
    public static func list(_ root: String) throws -> [BlockEntry] {
        let fm = FileManager.default
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: root) } catch {
            throw TSDBError(.io, file: root, offset: 0, "cannot list: \(error.localizedDescription)")
        }
        var out: [BlockEntry] = []
        for n in names.sorted() {
            guard let id = ULID(n) else { continue }
            let dir = root + "/" + n
            var entry = BlockEntry(ulid: id, meta: nil, metaError: nil, markers: [], sizeBytes: 0)
            if let data = fm.contents(atPath: dir + "/meta.json") {
                do { entry.meta = try BlockMeta(bytes: data, file: dir + "/meta.json") } catch {
                    entry.metaError = error.description
                }
            }
            entry.markers = MarkerKind.allCases.filter { fm.fileExists(atPath: dir + "/" + $0.rawValue) }
            if let e = fm.enumerator(atPath: dir) {
                while let f = e.nextObject() as? String {
                    if let a = try? fm.attributesOfItem(atPath: dir + "/" + f), (a[.type] as? FileAttributeType) == .typeRegular {
                        entry.sizeBytes += (a[.size] as? NSNumber)?.int64Value ?? 0
                    }
                }
            }
            out.append(entry)
        }
        return out
    }
}
