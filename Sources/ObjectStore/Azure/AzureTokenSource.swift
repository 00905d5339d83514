import Foundation

/// Azure AD bearer tokens for `https://storage.azure.com`, cached and refreshed before expiry.
/// Concurrent callers share one fetch.
actor AzureTokenSource {
    enum Flow: Sendable {
        /// POST `{authority}{tenant}/oauth2/v2.0/token`, grant client_credentials with a secret.
        case clientSecret(authority: String, tenant: String, clientID: String, secret: String)
        /// The same endpoint with a federated token file as a jwt-bearer client assertion.
        case workloadIdentity(authority: String, tenant: String, clientID: String, tokenFile: String)
        /// IMDS: GET `{endpoint}?api-version=2018-02-01&resource=…` with `Metadata: true`.
        case managedIdentity(clientID: String?, endpoint: String)

        var name: String {
            switch self {
            case .clientSecret: "client secret"
            case .workloadIdentity: "workload identity"
            case .managedIdentity: "managed identity"
            }
        }
    }

    struct Token: Sendable {
        var value: String
        var expiresAt: Double
        var refreshAt: Double
    }

    static let scope = "https://storage.azure.com/.default"
    static let resource = "https://storage.azure.com/"
    /// Refresh this long before expiry (or at half-life for short tokens).
    static let refreshMargin: Double = 300

    let flow: Flow
    let redactor: AzureRedactor
    let timeouts: HTTPTimeouts
    let retry: AzureRetryPolicy
    private var cached: Token?
    private var pending: Task<Result<Token, ObjectStoreError>, Never>?
    /// Fetches made, for tests.
    private(set) var fetches = 0

    init(flow: Flow, redactor: AzureRedactor, timeouts: HTTPTimeouts, retry: AzureRetryPolicy) {
        self.flow = flow
        self.redactor = redactor
        self.timeouts = timeouts
        self.retry = retry
    }

    func token() async throws(ObjectStoreError) -> String {
        let now = Date().timeIntervalSince1970
        if let c = cached, now < c.refreshAt { return c.value }
        let task: Task<Result<Token, ObjectStoreError>, Never>
        if let p = pending {
            task = p
        } else {
            fetches += 1
            let flow = flow, redactor = redactor, timeouts = timeouts, retry = retry
            task = Task { await Self.fetch(flow, redactor: redactor, timeouts: timeouts, retry: retry) }
            pending = task
        }
        let result = await task.value
        pending = nil
        switch result {
        case .success(let t):
            cached = t
            return t.value
        case .failure(let e):
            // A token that is still valid beats an error while the refresh fails.
            if let c = cached, Date().timeIntervalSince1970 < c.expiresAt - 30 { return c.value }
            throw e
        }
    }

    private static func fetch(_ flow: Flow, redactor: AzureRedactor, timeouts: HTTPTimeouts, retry: AzureRetryPolicy) async -> Result<Token, ObjectStoreError> {
        let where_ = "azure AD token (\(flow.name))"
        func fail(_ kind: ObjectStoreError.Kind, _ d: String) -> Result<Token, ObjectStoreError> {
            .failure(ObjectStoreError(kind, bucket: where_, key: "", redactor(d)))
        }
        var request: HTTPRequest
        switch flow {
        case .clientSecret(let authority, let tenant, let clientID, let secret):
            request = form(url: tokenURL(authority, tenant), [
                ("client_id", clientID), ("scope", scope), ("grant_type", "client_credentials"), ("client_secret", secret),
            ])
        case .workloadIdentity(let authority, let tenant, let clientID, let file):
            guard let d = FileManager.default.contents(atPath: file),
                let assertion = String(data: d, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
                !assertion.isEmpty
            else {
                return fail(.config, "cannot read AZURE_FEDERATED_TOKEN_FILE \(file)")
            }
            redactor.remember(assertion)
            request = form(url: tokenURL(authority, tenant), [
                ("client_id", clientID), ("scope", scope), ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion),
            ])
        case .managedIdentity(let clientID, let endpoint):
            var q = [("api-version", "2018-02-01"), ("resource", resource)]
            if let clientID { q.append(("client_id", clientID)) }
            request = HTTPRequest(method: "GET", url: endpoint + "?" + AzureURL.query(q), headers: [("Metadata", "true")])
        }
        request.timeouts = timeouts
        var attempt = 0
        while true {
            attempt += 1
            let sink = MemorySink()
            let started = Date().timeIntervalSince1970
            let r = await CurlEngine.shared.perform(request, sink: sink)
            if r.cancelled { return fail(.cancelled, "cancelled") }
            var retryable = false
            var failure: (ObjectStoreError.Kind, String)
            if r.curlCode != 0 {
                retryable = AzureRetryPolicy.retryableCurlCodes.contains(r.curlCode)
                failure = (.transport, "\(hostOf(request.url)): curl error \(r.curlCode): \(r.curlMessage)")
            } else if r.status == 200 {
                guard let obj = try? JSONSerialization.jsonObject(with: Data(sink.bytes)) as? [String: Any],
                    let token = obj["access_token"] as? String, !token.isEmpty
                else {
                    return fail(.unauthorized, "\(hostOf(request.url)) answered without an access_token")
                }
                redactor.remember(token)
                let expiresIn = number(obj["expires_in"])
                let expiresOn = number(obj["expires_on"])
                let expiresAt = expiresOn ?? (started + (expiresIn ?? 3600))
                let life = max(0, expiresAt - started)
                let margin = min(refreshMargin, life / 2)
                return .success(Token(value: token, expiresAt: expiresAt, refreshAt: expiresAt - margin))
            } else {
                retryable = AzureRetryPolicy.isRetryable(status: r.status, code: nil) || r.status == 404 && isIMDS(flow)
                var detail = "\(hostOf(request.url)): HTTP \(r.status)"
                if let obj = try? JSONSerialization.jsonObject(with: Data(r.errorBody)) as? [String: Any] {
                    if let e = obj["error"] as? String { detail += " error=\(e)" }
                    if let d = obj["error_description"] as? String { detail += ": \(d.split(separator: "\n").first ?? "")" }
                }
                failure = (r.status >= 500 || r.status == 429 ? .server : .unauthorized, detail)
            }
            if !retryable || attempt >= retry.maxTries {
                return fail(failure.0, failure.1 + (attempt > 1 ? " (after \(attempt) tries)" : ""))
            }
            do {
                try await Task.sleep(for: retry.delay(afterAttempt: attempt, retryAfter: r.header("retry-after")))
            } catch {
                return fail(.cancelled, "cancelled")
            }
        }
    }

    private static func isIMDS(_ f: Flow) -> Bool {
        if case .managedIdentity = f { return true }
        return false
    }

    static func tokenURL(_ authority: String, _ tenant: String) -> String {
        let a = authority.hasSuffix("/") ? authority : authority + "/"
        return "\(a)\(AzureURL.encode(tenant, allowed: AzureURL.unreserved))/oauth2/v2.0/token"
    }

    private static func form(url: String, _ fields: [(String, String)]) -> HTTPRequest {
        let body = Array(AzureURL.query(fields).utf8)
        return HTTPRequest(method: "POST", url: url, headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")], body: .bytes(body))
    }

    static func hostOf(_ url: String) -> String {
        let afterScheme = url.components(separatedBy: "://").last ?? url
        return String(afterScheme.split(separator: "/").first ?? "")
    }

    private static func number(_ v: Any?) -> Double? {
        if let d = v as? Double { return d }
        if let i = v as? Int { return Double(i) }
        if let s = v as? String { return Double(s) }
        return nil
    }
}
