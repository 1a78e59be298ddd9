import BlobferryCrypto
import BlobferryHTTP
import Foundation

/// Finds AWS credentials the way botocore's default chain does, in its order: the
/// settings (environment or config file), a profile's `role_arn` (STS AssumeRole), web
/// identity (STS AssumeRoleWithWebIdentity), the shared credentials file, a profile's
/// `credential_process` or keys in the config file, container credentials (ECS, EKS Pod
/// Identity), EC2 instance metadata (IMDSv2).
///
/// Why our own chain: blobferry signs with its own SigV4 code and needs only the sources,
/// each a fetch that returns credentials and their expiry; `RefreshingCredentials` keeps
/// them fresh. The first source that is configured is used; if it then fails, that is the
/// error (exit 3), as with the SDKs.
public enum AWSCredentialChain {
    /// The credentials provider for `settings` and `environment`, or nil when nothing but
    /// instance metadata could provide them and it is disabled.
    public static func provider(
        settings: DestinationSettings, environment: [String: String], http: HTTPEngine
    ) throws -> RefreshingCredentials<AWSCredentials> {
        let environment = environment.filter { !$0.value.isEmpty }
        if !settings.accessKeyID.isEmpty, let secret = settings.secretAccessKey {
            let credentials = AWSCredentials(
                accessKeyID: settings.accessKeyID, secretAccessKey: secret.exposedValue,
                sessionToken: settings.sessionToken?.exposedValue)
            return RefreshingCredentials(sourceName: "static keys (AWS_ACCESS_KEY_ID)") { (credentials, nil) }
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let profileName = environment["AWS_PROFILE"] ?? environment["AWS_DEFAULT_PROFILE"] ?? "default"
        let credentialsFile = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? home + "/.aws/credentials"
        let configFile = environment["AWS_CONFIG_FILE"] ?? home + "/.aws/config"
        let files = ProfileFiles(credentialsPath: credentialsFile, configPath: configFile)
        let region = settings.region
        let sts = STSClient(environment: environment, region: region, http: http)

        let profile = files.profile(profileName)
        if let roleARN = profile["role_arn"], let source = profile["source_profile"] {
            let sourceProfile = files.profile(source)
            guard let sourceCredentials = staticCredentials(sourceProfile) else {
                throw CredentialSourceError(
                    "profile '\(profileName)': source_profile '\(source)' has no aws_access_key_id/aws_secret_access_key"
                )
            }
            let session = profile["role_session_name"] ?? "blobferry-\(ProcessInfo.processInfo.processIdentifier)"
            return RefreshingCredentials(sourceName: "profile '\(profileName)' (AssumeRole \(roleARN))") {
                try await sts.assumeRole(roleARN: roleARN, sessionName: session, with: sourceCredentials)
            }
        }
        if let tokenFile = environment["AWS_WEB_IDENTITY_TOKEN_FILE"] ?? profile["web_identity_token_file"],
            let roleARN = environment["AWS_ROLE_ARN"] ?? profile["role_arn"]
        {
            let session =
                environment["AWS_ROLE_SESSION_NAME"] ?? "blobferry-\(ProcessInfo.processInfo.processIdentifier)"
            return RefreshingCredentials(sourceName: "web identity (\(roleARN))") {
                let token: String
                do {
                    token = try String(contentsOfFile: tokenFile, encoding: .utf8)
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                } catch {
                    throw CredentialSourceError("cannot read the web identity token file \(tokenFile)")
                }
                return try await sts.assumeRoleWithWebIdentity(roleARN: roleARN, sessionName: session, token: token)
            }
        }
        if let credentials = staticCredentials(files.credentialsSection(profileName)) {
            return RefreshingCredentials(sourceName: "shared credentials file \(credentialsFile) [\(profileName)]") {
                (credentials, nil)
            }
        }
        if let command = profile["credential_process"] {
            return RefreshingCredentials(sourceName: "credential_process of profile '\(profileName)'") {
                try await CredentialProcess.run(command)
            }
        }
        if let credentials = staticCredentials(files.configSection(profileName)) {
            return RefreshingCredentials(sourceName: "config file \(configFile) [\(profileName)]") {
                (credentials, nil)
            }
        }
        if environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] != nil
            || environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] != nil
        {
            let container = ContainerCredentials(environment: environment, http: http)
            return RefreshingCredentials(sourceName: "container credentials (\(container.displayURL))") {
                try await container.fetch()
            }
        }
        if environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" {
            throw CredentialSourceError(
                "no AWS credentials found (AWS_ACCESS_KEY_ID, profile '\(profileName)', web identity, container; instance metadata is disabled)"
            )
        }
        let imds = InstanceMetadata(environment: environment, http: http)
        return RefreshingCredentials(sourceName: "EC2 instance metadata (\(imds.endpoint))") { try await imds.fetch() }
    }

    static func staticCredentials(_ section: [String: String]) -> AWSCredentials? {
        guard let id = section["aws_access_key_id"], let secret = section["aws_secret_access_key"] else { return nil }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: section["aws_session_token"])
    }

    /// Parses the ISO 8601 expirations AWS endpoints return (with or without fractions).
    static func parseDate(_ text: String?) -> Date? {
        guard let text else { return nil }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// The credentials in the JSON container credentials, IMDS and credential_process return.
    static func decode(_ body: [UInt8], source: String) throws -> (AWSCredentials, Date?) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let id = object["AccessKeyId"] as? String, let secret = object["SecretAccessKey"] as? String
        else {
            throw CredentialSourceError("\(source) returned no AccessKeyId/SecretAccessKey")
        }
        let token = (object["Token"] as? String) ?? (object["SessionToken"] as? String)
        let credentials = AWSCredentials(
            accessKeyID: id, secretAccessKey: secret, sessionToken: token?.isEmpty == true ? nil : token)
        return (credentials, parseDate(object["Expiration"] as? String))
    }

    /// The error code in an STS XML (`<Code>`) or OAuth JSON (`error`) answer: a code only,
    /// never a description that might quote what was sent.
    static func errorCode(_ body: [UInt8]) -> String? {
        let text = String(decoding: body.prefix(4096), as: UTF8.self)
        if let code = STSClient.element("Code", in: text) { return code }
        if let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let code = object["error"] as? String
        {
            return code
        }
        return nil
    }

    /// Sends `request`, turning transport failures and non-2xx answers into one line.
    static func fetch(_ request: HTTPRequest, http: HTTPEngine, source: String) async throws -> [UInt8] {
        let response: HTTPResponse
        do {
            response = try await http.execute(request)
        } catch let error as HTTPError {
            throw CredentialSourceError("\(source) unreachable: \(error.message)", transient: true)
        }
        guard (200..<300).contains(response.status) else {
            throw CredentialSourceError(
                "\(source) answered HTTP \(response.status)\(errorCode(response.body).map { " " + $0 } ?? "")",
                transient: response.status >= 500 || response.status == 429)
        }
        return response.body
    }
}

/// `~/.aws/credentials` (`[name]` sections) and `~/.aws/config` (`[profile name]`, `[default]`).
struct ProfileFiles {
    let credentials: [String: [String: String]]
    let config: [String: [String: String]]

    init(credentialsPath: String, configPath: String) {
        credentials = Self.parse(path: credentialsPath)
        var config: [String: [String: String]] = [:]
        for (name, values) in Self.parse(path: configPath) {
            let key = name.hasPrefix("profile ") ? String(name.dropFirst(8)).trimmingCharacters(in: .whitespaces) : name
            config[key, default: [:]].merge(values) { _, new in new }
        }
        self.config = config
    }

    func credentialsSection(_ name: String) -> [String: String] { credentials[name] ?? [:] }
    func configSection(_ name: String) -> [String: String] { config[name] ?? [:] }
    /// Both files' settings for one profile, the credentials file winning.
    func profile(_ name: String) -> [String: String] {
        configSection(name).merging(credentialsSection(name)) { _, new in new }
    }

    static func parse(path: String) -> [String: [String: String]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var sections: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[current, default: [:]][key] = value
        }
        return sections
    }
}

/// ECS task roles and EKS Pod Identity: a local endpoint named by the environment.
struct ContainerCredentials: Sendable {
    let url: String
    let token: String?
    let tokenFile: String?
    let http: HTTPEngine

    init(environment: [String: String], http: HTTPEngine) {
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] {
            url = "http://169.254.170.2" + relative
        } else {
            url = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] ?? ""
        }
        token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
        tokenFile = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]
        self.http = http
    }

    /// The endpoint without its query (which might carry something private).
    var displayURL: String { url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url }

    func fetch() async throws -> (AWSCredentials, Date?) {
        var headers: [HTTPHeader] = []
        if let tokenFile {
            // Read on every fetch: EKS rotates the file.
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw CredentialSourceError("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(tokenFile)")
            }
            headers.append(HTTPHeader("Authorization", text.trimmingCharacters(in: .whitespacesAndNewlines)))
        } else if let token {
            headers.append(HTTPHeader("Authorization", token))
        }
        let source = "container credentials endpoint \(displayURL)"
        let body = try await AWSCredentialChain.fetch(
            HTTPRequest(method: "GET", url: url, headers: headers, timeout: 5), http: http, source: source)
        return try AWSCredentialChain.decode(body, source: source)
    }
}

/// EC2 instance metadata with an IMDSv2 session token.
struct InstanceMetadata: Sendable {
    let endpoint: String
    let http: HTTPEngine

    init(environment: [String: String], http: HTTPEngine) {
        var endpoint = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"] ?? "http://169.254.169.254"
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        self.endpoint = endpoint
        self.http = http
    }

    func fetch() async throws -> (AWSCredentials, Date?) {
        let source = "EC2 instance metadata \(endpoint)"
        let tokenBody = try await AWSCredentialChain.fetch(
            HTTPRequest(
                method: "PUT", url: endpoint + "/latest/api/token",
                headers: [
                    HTTPHeader("X-aws-ec2-metadata-token-ttl-seconds", "21600"), HTTPHeader("Content-Length", "0"),
                ],
                timeout: 2), http: http, source: source)
        let token = HTTPHeader("X-aws-ec2-metadata-token", String(decoding: tokenBody, as: UTF8.self))
        let base = endpoint + "/latest/meta-data/iam/security-credentials/"
        let roles = try await AWSCredentialChain.fetch(
            HTTPRequest(method: "GET", url: base, headers: [token], timeout: 2), http: http, source: source)
        guard
            let role = String(decoding: roles, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init),
            !role.isEmpty
        else {
            throw CredentialSourceError("\(source): no instance role attached")
        }
        let body = try await AWSCredentialChain.fetch(
            HTTPRequest(method: "GET", url: base + role, headers: [token], timeout: 2), http: http, source: source)
        return try AWSCredentialChain.decode(body, source: source)
    }
}

/// A profile's `credential_process`: a command printing the credentials as JSON.
enum CredentialProcess {
    static func run(_ command: String) async throws -> (AWSCredentials, Date?) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        do {
            try process.run()
        } catch {
            throw CredentialSourceError("credential_process could not be started")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CredentialSourceError("credential_process exited \(process.terminationStatus)")
        }
        return try AWSCredentialChain.decode(Array(data), source: "credential_process")
    }
}

/// STS for AssumeRole (signed with a source profile's keys) and AssumeRoleWithWebIdentity
/// (unsigned), at `AWS_ENDPOINT_URL_STS` or the regional endpoint.
struct STSClient: Sendable {
    let endpoint: String
    let region: String
    let http: HTTPEngine

    init(environment: [String: String], region: String, http: HTTPEngine) {
        var endpoint =
            environment["AWS_ENDPOINT_URL_STS"] ?? environment["AWS_ENDPOINT_URL"]
            ?? "https://sts.\(region).amazonaws.com"
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        self.endpoint = endpoint
        self.region = region
        self.http = http
    }

    func assumeRole(roleARN: String, sessionName: String, with source: AWSCredentials) async throws -> (
        AWSCredentials, Date?
    ) {
        try await call(
            [
                ("Action", "AssumeRole"), ("RoleArn", roleARN), ("RoleSessionName", sessionName),
                ("Version", "2011-06-15"),
            ], signWith: source)
    }

    func assumeRoleWithWebIdentity(roleARN: String, sessionName: String, token: String) async throws -> (
        AWSCredentials, Date?
    ) {
        try await call(
            [
                ("Action", "AssumeRoleWithWebIdentity"), ("RoleArn", roleARN), ("RoleSessionName", sessionName),
                ("Version", "2011-06-15"), ("WebIdentityToken", token),
            ], signWith: nil)
    }

    private func call(_ form: [(String, String)], signWith credentials: AWSCredentials?) async throws -> (
        AWSCredentials, Date?
    ) {
        let body = Array(SigV4Signer.canonicalQuery(form).utf8)
        guard let components = URLComponents(string: endpoint), let hostName = components.host else {
            throw CredentialSourceError("STS endpoint '\(endpoint)' is not a URL")
        }
        let path = components.percentEncodedPath + "/"
        let url = components
        let host = url.port.map { "\(hostName):\($0)" } ?? hostName
        var headers = [
            HTTPHeader("Content-Type", "application/x-www-form-urlencoded"),
            HTTPHeader("Content-Length", String(body.count)),
        ]
        if let credentials {
            let signer = SigV4Signer(credentials: credentials, region: region, service: "sts")
            let signed = signer.sign(
                method: "POST", host: host, encodedPath: path, query: [],
                headers: headers.map { ($0.name, $0.value) }, payload: .bytes(body), date: Date())
            headers += signed.map { HTTPHeader($0.0, $0.1) }
        }
        let source = "STS \(form[0].1) at \(endpoint)"
        let response = try await AWSCredentialChain.fetch(
            HTTPRequest(method: "POST", url: endpoint + "/", headers: headers, body: body, timeout: 10), http: http,
            source: source)
        let xml = String(decoding: response, as: UTF8.self)
        guard let id = Self.element("AccessKeyId", in: xml), let secret = Self.element("SecretAccessKey", in: xml)
        else {
            throw CredentialSourceError("\(source) returned no credentials")
        }
        return (
            AWSCredentials(
                accessKeyID: id, secretAccessKey: secret, sessionToken: Self.element("SessionToken", in: xml)),
            AWSCredentialChain.parseDate(Self.element("Expiration", in: xml))
        )
    }

    static func element(_ name: String, in xml: String) -> String? {
        guard let start = xml.range(of: "<\(name)>"),
            let end = xml.range(of: "</\(name)>", range: start.upperBound..<xml.endIndex)
        else { return nil }
        return String(xml[start.upperBound..<end.lowerBound])
    }
}

/// SigV4 with credentials asked of a provider on every request, so a consumer that runs
/// for days signs with whatever the provider refreshed last.
///
/// Why not `SigV4Signer` alone: its credentials are fixed; temporary credentials expire.
public struct RefreshingSigV4Signer: RequestSigner {
    public let credentials: RefreshingCredentials<AWSCredentials>
    public let region: String
    public let service: String

    public init(credentials: RefreshingCredentials<AWSCredentials>, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    public func sign(_ request: inout SignableRequest) async throws {
        let current: AWSCredentials
        do {
            current = try await credentials.value()
        } catch let error as CredentialSourceError {
            throw RemoteError(
                service: .s3, kind: error.transient ? .transient : .authorization,
                message: "AWS credentials (\(credentials.sourceName)): \(error.message)")
        }
        try await SigV4Signer(credentials: current, region: region, service: service).sign(&request)
    }
}
