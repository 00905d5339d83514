import Foundation

/// How requests are authorized.
enum AzureCredential: Sendable {
    case sharedKey(SharedKeySigner)
    /// A SAS token (query string without `?`), appended to every URL.
    case sas(String)
    case bearer(AzureTokenSource)
}

/// Where the Blob service lives: `baseURL` has no trailing `/` and includes the account segment
/// for path-style endpoints (`http://127.0.0.1:10000/devstoreaccount1`).
struct AzureEndpoint: Sendable, Equatable {
    var baseURL: String
    /// The path part of `baseURL` as sent (`""` or `/devstoreaccount1`).
    var basePath: String

    init(baseURL: String) {
        var b = baseURL
        while b.hasSuffix("/") { b.removeLast() }
        self.baseURL = b
        if let scheme = b.range(of: "://"), let slash = b[scheme.upperBound...].firstIndex(of: "/") {
            basePath = String(b[slash...])
        } else {
            basePath = ""
        }
    }

    var isHTTPS: Bool { baseURL.lowercased().hasPrefix("https://") }

    /// Whether the host is 127.0.0.1, ::1 or localhost (emulators).
    var isLoopback: Bool {
        let afterScheme = baseURL.components(separatedBy: "://").last ?? ""
        let hostPort = afterScheme.split(separator: "/").first.map(String.init) ?? ""
        let host: String
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
        } else {
            host = String(hostPort.split(separator: ":").first ?? "")
        }
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// The well-known development storage account (Azurite and the emulators).
enum DevelopmentStorage {
    static let account = "devstoreaccount1"
    static let key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    static let blobEndpoint = "http://127.0.0.1:10000/devstoreaccount1"
}

/// `Key=Value;…` storage connection strings. Each part is split on its first `=` (keys and SAS
/// values contain `=`); part names are matched case-insensitively.
struct ConnectionString: Sendable {
    var accountName: String?
    var accountKey: String?
    var blobEndpoint: String?
    var sas: String?
    var endpointSuffix = "core.windows.net"
    var defaultProtocol = "https"

    static func parse(_ text: String) throws(ObjectStoreError) -> ConnectionString {
        var parts: [String: String] = [:]
        for part in text.split(separator: ";", omittingEmptySubsequences: true) {
            let p = part.trimmingCharacters(in: .whitespaces)
            if p.isEmpty { continue }
            guard let eq = p.firstIndex(of: "=") else {
                // Do not echo the part: it may be a secret that lost its name.
                throw ConfigNode.error("objstore.config.storage_connection_string", "a part has no '=' (expected Name=Value;…)")
            }
            parts[p[..<eq].lowercased()] = String(p[p.index(after: eq)...])
        }
        var cs = ConnectionString()
        if parts["usedevelopmentstorage"]?.lowercased() == "true" {
            cs.accountName = DevelopmentStorage.account
            cs.accountKey = DevelopmentStorage.key
            cs.blobEndpoint = DevelopmentStorage.blobEndpoint
            cs.defaultProtocol = "http"
            if let proxy = parts["developmentstorageproxyuri"], !proxy.isEmpty {
                cs.blobEndpoint = proxy.trimmingSuffix("/") + ":10000/" + DevelopmentStorage.account
            }
        }
        if let v = parts["accountname"] { cs.accountName = v }
        if let v = parts["accountkey"] { cs.accountKey = v }
        if let v = parts["blobendpoint"] { cs.blobEndpoint = v }
        if let v = parts["sharedaccesssignature"] { cs.sas = v.hasPrefix("?") ? String(v.dropFirst()) : v }
        if let v = parts["endpointsuffix"] { cs.endpointSuffix = v }
        if let v = parts["defaultendpointsprotocol"] { cs.defaultProtocol = v.lowercased() }
        if cs.blobEndpoint == nil && cs.accountName == nil {
            throw ConfigNode.error("objstore.config.storage_connection_string", "needs AccountName or BlobEndpoint")
        }
        if cs.accountKey == nil && cs.sas == nil {
            throw ConfigNode.error("objstore.config.storage_connection_string", "needs AccountKey or SharedAccessSignature")
        }
        return cs
    }
}

extension String {
    func trimmingSuffix(_ s: String) -> String {
        var t = self
        while t.hasSuffix(s) { t.removeLast(s.count) }
        return t
    }
}

/// Turns an `AzureConfig` into an endpoint, an account name and a credential, the way Thanos
/// does: connection string, else shared key, else Azure AD (user-assigned managed identity,
/// client secret, or the environment: client secret, workload identity, managed identity).
struct AzureAuthResolution: Sendable {
    var account: String
    var endpoint: AzureEndpoint
    var credential: AzureCredential
    /// Secrets to scrub from every message.
    var secrets: [String]

    static func resolve(_ c: AzureConfig, tuning: AzureTuning, redactor: AzureRedactor) throws(ObjectStoreError) -> AzureAuthResolution {
        if let text = c.storageConnectionString {
            let cs = try ConnectionString.parse(text)
            var account = cs.accountName ?? c.storageAccount
            let base: String
            if let be = cs.blobEndpoint {
                base = be
                if account.isEmpty { account = accountFromEndpoint(be) }
            } else {
                base = "\(cs.defaultProtocol)://\(account).blob.\(cs.endpointSuffix)"
            }
            let endpoint = AzureEndpoint(baseURL: base)
            if let key = cs.accountKey {
                guard let k = Data(base64Encoded: key), !k.isEmpty else {
                    throw ConfigNode.error("objstore.config.storage_connection_string", "AccountKey is not valid base64")
                }
                return AzureAuthResolution(account: account, endpoint: endpoint, credential: .sharedKey(SharedKeySigner(account: account, key: Array(k))), secrets: [key] + (cs.sas.map { [$0] } ?? []))
            }
            let sas = cs.sas ?? ""
            return AzureAuthResolution(account: account, endpoint: endpoint, credential: .sas(sas), secrets: [sas])
        }
        let endpoint = Self.endpoint(account: c.storageAccount, configured: c.endpoint)
        if let key = c.storageAccountKey {
            guard let k = Data(base64Encoded: key), !k.isEmpty else {
                throw ConfigNode.error("objstore.config.storage_account_key", "is not valid base64")
            }
            return AzureAuthResolution(account: c.storageAccount, endpoint: endpoint, credential: .sharedKey(SharedKeySigner(account: c.storageAccount, key: Array(k))), secrets: [key])
        }
        let env = tuning.environment
        let authority = tuning.authorityHost ?? env["AZURE_AUTHORITY_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://login.microsoftonline.com/"
        let flow: AzureTokenSource.Flow
        var secrets: [String] = []
        if let id = c.userAssignedID {
            flow = .managedIdentity(clientID: id, endpoint: tuning.imdsEndpoint)
        } else if let tenant = c.tenantID, let client = c.clientID, let secret = c.clientSecret {
            flow = .clientSecret(authority: authority, tenant: tenant, clientID: client, secret: secret)
            secrets.append(secret)
        } else if let tenant = env["AZURE_TENANT_ID"], let client = env["AZURE_CLIENT_ID"], let secret = env["AZURE_CLIENT_SECRET"], !secret.isEmpty {
            flow = .clientSecret(authority: authority, tenant: tenant, clientID: client, secret: secret)
            secrets.append(secret)
        } else if let tenant = env["AZURE_TENANT_ID"], let client = env["AZURE_CLIENT_ID"], let file = env["AZURE_FEDERATED_TOKEN_FILE"], !file.isEmpty {
            flow = .workloadIdentity(authority: authority, tenant: tenant, clientID: client, tokenFile: file)
        } else {
            flow = .managedIdentity(clientID: env["AZURE_CLIENT_ID"].flatMap { $0.isEmpty ? nil : $0 }, endpoint: tuning.imdsEndpoint)
        }
        for s in secrets { redactor.remember(s) }
        let source = AzureTokenSource(flow: flow, redactor: redactor, timeouts: tuning.timeouts(c), retry: tuning.retryPolicy(c))
        return AzureAuthResolution(account: c.storageAccount, endpoint: endpoint, credential: .bearer(source), secrets: secrets)
    }

    /// `https://{account}.{endpoint}`; an `endpoint` that is a full URL is used as given,
    /// path-style, with `/{account}` appended when it has no path (blockyard extension, for
    /// emulators and private endpoints).
    static func endpoint(account: String, configured: String) -> AzureEndpoint {
        let lower = configured.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            let e = AzureEndpoint(baseURL: configured)
            return e.basePath.isEmpty ? AzureEndpoint(baseURL: e.baseURL + "/" + account) : e
        }
        return AzureEndpoint(baseURL: "https://\(account).\(configured)")
    }

    /// `https://acct.blob.core.windows.net` → `acct`; `http://host:port/acct` → `acct`.
    static func accountFromEndpoint(_ url: String) -> String {
        let e = AzureEndpoint(baseURL: url)
        if let first = e.basePath.split(separator: "/").first { return String(first) }
        let host = e.baseURL.components(separatedBy: "://").last ?? ""
        return String(host.split(separator: ".").first ?? "")
    }
}
