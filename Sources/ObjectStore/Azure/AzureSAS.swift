import Foundation

/// Service SAS tokens for one blob, signed with the account key (version 2020-12-06 and later
/// string-to-sign): what a Shared Key bucket hands another service so it may read one object.
extension SharedKeySigner {
    /// `sv=…&st=…&se=…&sr=b&sp=…&spr=…&sig=…` (no leading `?`). `container` and `blob` are
    /// given decoded, as the canonical resource wants them.
    func blobSAS(
        container: String, blob: String, permissions: String, start: Double, expiry: Double,
        protocols: String, version: String = AzureBucket.apiVersion
    ) -> String {
        let st = HTTPDate.iso8601(start)
        let se = HTTPDate.iso8601(expiry)
        let canonical = "/blob/\(account)/\(container)/\(blob)"
        // sp, st, se, resource, si, sip, spr, sv, sr, snapshot time, encryption scope,
        // then the five response-header overrides (rscc, rscd, rsce, rscl, rsct).
        let fields = [permissions, st, se, canonical, "", "", protocols, version, "b", "", "", "", "", "", "", ""]
        let sig = Data(Self.hmacSHA256(key: key, fields.joined(separator: "\n"))).base64EncodedString()
        return AzureURL.query([("sv", version), ("st", st), ("se", se), ("sr", "b"), ("sp", permissions), ("spr", protocols), ("sig", sig)])
    }
}
