/// `type: AZURE` settings, with Thanos objstore's field names and defaults
/// (providers/azure). Secrets are held here but never printed: `description` redacts.
public struct AzureConfig: Sendable, CustomStringConvertible {
    public struct TLS: Sendable {
        public var caFile: String?
        public var certFile: String?
        public var keyFile: String?
        public var serverName: String?
        public var insecureSkipVerify = false
    }

    public struct HTTP: Sendable {
        public var idleConnTimeout: Duration = .seconds(90)
        public var responseHeaderTimeout: Duration = .seconds(120)
        public var tlsHandshakeTimeout: Duration = .seconds(10)
        public var expectContinueTimeout: Duration = .seconds(1)
        public var maxIdleConns = 100
        public var maxIdleConnsPerHost = 100
        public var maxConnsPerHost = 0
        public var disableCompression = false
        public var insecureSkipVerify = false
        public var tls = TLS()
    }

    public struct Pipeline: Sendable {
        public var maxTries = 0
        public var tryTimeout: Duration = .zero
        public var retryDelay: Duration = .zero
        public var maxRetryDelay: Duration = .zero
    }

    public var storageAccount = ""
    public var storageAccountKey: String?
    public var storageConnectionString: String?
    public var storageCreateContainer = true
    public var container = ""
    public var endpoint = "blob.core.windows.net"
    public var userAssignedID: String?
    public var tenantID: String?
    public var clientID: String?
    public var clientSecret: String?
    public var maxRetries = 0
    public var readerMaxRetryRequests = 0
    public var pipeline = Pipeline()
    public var http = HTTP()
    public var msiResource: String?
    public var storageAccountType: String?

    public init() {}

    init(_ c: inout ConfigNode, accountLevel: Bool = false) throws(ObjectStoreError) {
        storageAccount = try c.string("storage_account") ?? ""
        storageAccountKey = try c.string("storage_account_key").flatMap { $0.isEmpty ? nil : $0 }
        storageConnectionString = try c.string("storage_connection_string").flatMap { $0.isEmpty ? nil : $0 }
        storageCreateContainer = try c.bool("storage_create_container") ?? true
        container = try c.string("container") ?? ""
        endpoint = try c.string("endpoint").flatMap { $0.isEmpty ? nil : $0 } ?? "blob.core.windows.net"
        userAssignedID = try c.string("user_assigned_id").flatMap { $0.isEmpty ? nil : $0 }
        tenantID = try c.string("az_tenant_id").flatMap { $0.isEmpty ? nil : $0 }
        clientID = try c.string("client_id").flatMap { $0.isEmpty ? nil : $0 }
        clientSecret = try c.string("client_secret").flatMap { $0.isEmpty ? nil : $0 }
        maxRetries = try c.int("max_retries") ?? 0
        msiResource = try c.string("msi_resource")
        storageAccountType = try c.string("azure_storage_account_type")
        var r = try c.map("reader_config")
        readerMaxRetryRequests = try r.int("max_retry_requests") ?? 0
        try r.finish()
        var p = try c.map("pipeline_config")
        pipeline.maxTries = try p.int("max_tries") ?? 0
        pipeline.tryTimeout = try p.duration("try_timeout") ?? .zero
        pipeline.retryDelay = try p.duration("retry_delay") ?? .zero
        pipeline.maxRetryDelay = try p.duration("max_retry_delay") ?? .zero
        try p.finish()
        var h = try c.map("http_config")
        http.idleConnTimeout = try h.duration("idle_conn_timeout") ?? http.idleConnTimeout
        http.responseHeaderTimeout = try h.duration("response_header_timeout") ?? http.responseHeaderTimeout
        http.tlsHandshakeTimeout = try h.duration("tls_handshake_timeout") ?? http.tlsHandshakeTimeout
        http.expectContinueTimeout = try h.duration("expect_continue_timeout") ?? http.expectContinueTimeout
        http.maxIdleConns = try h.int("max_idle_conns") ?? http.maxIdleConns
        http.maxIdleConnsPerHost = try h.int("max_idle_conns_per_host") ?? http.maxIdleConnsPerHost
        http.maxConnsPerHost = try h.int("max_conns_per_host") ?? http.maxConnsPerHost
        http.disableCompression = try h.bool("disable_compression") ?? false
        http.insecureSkipVerify = try h.bool("insecure_skip_verify") ?? false
        var t = try h.map("tls_config")
        http.tls.caFile = try t.string("ca_file")
        http.tls.certFile = try t.string("cert_file")
        http.tls.keyFile = try t.string("key_file")
        http.tls.serverName = try t.string("server_name")
        http.tls.insecureSkipVerify = try t.bool("insecure_skip_verify") ?? false
        try t.finish()
        try h.finish()
        // Thanos: max_retries fills the specific settings that were left at 0.
        if maxRetries > 0 {
            if pipeline.maxTries == 0 { pipeline.maxTries = maxRetries }
            if readerMaxRetryRequests == 0 { readerMaxRetryRequests = maxRetries }
        }
        try validate(requireContainer: !accountLevel)
    }

    /// Thanos' validation rules, each naming the fields involved. An account-level config (for
    /// `--all-containers`) may leave `container` out.
    func validate(requireContainer: Bool = true) throws(ObjectStoreError) {
        func bad(_ f: String, _ d: String) -> ObjectStoreError { ConfigNode.error("objstore.config.\(f)", d) }
        if userAssignedID != nil && storageAccountKey != nil { throw bad("user_assigned_id", "cannot be set with storage_account_key") }
        if userAssignedID != nil && storageConnectionString != nil { throw bad("user_assigned_id", "cannot be set with storage_connection_string") }
        if userAssignedID != nil && clientID != nil { throw bad("user_assigned_id", "cannot be set with client_id") }
        let sp = [tenantID, clientID, clientSecret].map { $0 != nil }
        if sp.contains(true) && sp.contains(false) { throw bad("az_tenant_id", "az_tenant_id, client_id and client_secret must be set together") }
        if storageAccountKey != nil && storageConnectionString != nil {
            throw bad("storage_account_key", "cannot be set together with storage_connection_string")
        }
        if storageAccount.isEmpty && storageConnectionString == nil { throw bad("storage_account", "missing") }
        if container.isEmpty && requireContainer { throw bad("container", "missing (or use --all-containers with an account-level config)") }
        if pipeline.maxTries < 0 { throw bad("pipeline_config.max_tries", "must be >= 0") }
        if readerMaxRetryRequests < 0 { throw bad("reader_config.max_retry_requests", "must be >= 0") }
        if maxRetries < 0 { throw bad("max_retries", "must be >= 0") }
    }

    /// Never shows a key, secret or SAS.
    public var description: String {
        var auth = "azure AD (environment)"
        if storageConnectionString != nil { auth = "connection string" }
        else if storageAccountKey != nil { auth = "shared key" }
        else if clientSecret != nil { auth = "client secret" }
        else if userAssignedID != nil { auth = "managed identity" }
        return "azure account=\(storageAccount) container=\(container) endpoint=\(endpoint) auth=\(auth)"
    }
}
