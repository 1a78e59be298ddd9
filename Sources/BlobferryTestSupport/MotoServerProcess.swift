import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A moto_server a test owns, with authentication on: its STS mints credentials that are
/// valid only for its own S3 and IAM, so tests of AssumeRole, web identity and key rotation
/// need moto as their destination, checking SigV4 signatures and session tokens (the shared
/// moto of `scripts/services.sh` checks nothing).
///
/// Started with `INITIAL_NO_AUTH_ACTION_COUNT=3`: the first three actions (create the user
/// `admin`, give it every permission, create its access key) are the only unauthenticated
/// ones; everything after, the test's own set-up included, is signed with a key moto's IAM
/// knows. Stopped when released.
public final class MotoServerProcess: @unchecked Sendable {
    public static let region = "us-east-1"
    /// moto's default account.
    public static let account = "123456789012"

    public let port: Int
    public let logFile: String
    public let adminAccessKey: String
    public let adminSecretKey: String
    private let process: LocalProcess

    /// `http://127.0.0.1:<port>`, no trailing slash.
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    /// An access key moto's IAM issued.
    public struct AccessKey: Sendable {
        public let id: String
        public let secret: String
    }

    /// Starts moto_server on a free loopback port, creates the admin key and checks that a
    /// request signed with a wrong secret is refused.
    public init(timeout: TimeInterval = 60) throws {
        var environment = ProcessInfo.processInfo.environment
        environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        var lastError: Error = LocalProcess.TimedOut(what: "moto_server did not start")
        for attempt in 0..<3 {
            let port = try LoopbackPort.free()
            let logFile = NSTemporaryDirectory() + "blobferry-moto-\(UUID().uuidString.prefix(8))-\(attempt).log"
            let process = try LocalProcess(
                "moto_server", ["-H", "127.0.0.1", "-p", String(port)], environment: environment, logFile: logFile)
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline, process.isRunning, !LoopbackPort.isOpen(port) { usleep(50_000) }
            guard process.isRunning, LoopbackPort.isOpen(port) else {
                // Most likely someone took the port between free() and bind(): try another.
                process.stop(signal: SIGKILL)
                lastError = LocalProcess.TimedOut(what: "moto_server did not start (see \(logFile))")
                continue
            }
            let endpoint = "http://127.0.0.1:\(port)"
            // The three unauthenticated actions (any signature will do).
            let anyone = AccessKey(id: "AKIDBOOTSTRAP", secret: "bootstrap")
            try Self.iam(endpoint, anyone, ["Action": "CreateUser", "UserName": "admin"])
            try Self.iam(
                endpoint, anyone,
                [
                    "Action": "PutUserPolicy", "UserName": "admin", "PolicyName": "everything",
                    "PolicyDocument": Self.allow(["*"], on: ["*"]),
                ])
            let admin = try Self.accessKey(
                try Self.iam(endpoint, anyone, ["Action": "CreateAccessKey", "UserName": "admin"]))
            let refused = try Self.iam(
                endpoint, AccessKey(id: admin.id, secret: "wrong-secret"), ["Action": "ListUsers"], check: false)
            guard refused.contains("SignatureDoesNotMatch") else {
                process.stop(signal: SIGKILL)
                throw LocalProcess.TimedOut(what: "moto_server accepted a wrong secret: \(refused.prefix(200))")
            }
            self.port = port
            self.logFile = logFile
            self.process = process
            adminAccessKey = admin.id
            adminSecretKey = admin.secret
            return
        }
        throw lastError
    }

    deinit { process.stop() }

    /// The admin's key (every permission).
    public var admin: AccessKey { AccessKey(id: adminAccessKey, secret: adminSecretKey) }

    /// One IAM query action signed with the admin key; returns the XML answer.
    @discardableResult
    public func iam(_ parameters: [String: String]) throws -> String {
        try Self.iam(endpoint, admin, parameters)
    }

    /// Creates `user` with an inline policy allowing `actions` on `resources`.
    public func createUser(_ user: String, allowing actions: [String], on resources: [String]) throws {
        try iam(["Action": "CreateUser", "UserName": user])
        try iam([
            "Action": "PutUserPolicy", "UserName": user, "PolicyName": "blobferry",
            "PolicyDocument": Self.allow(actions, on: resources),
        ])
    }

    /// A new access key of `user`.
    public func createAccessKey(_ user: String) throws -> AccessKey {
        try Self.accessKey(try iam(["Action": "CreateAccessKey", "UserName": user]))
    }

    public func deleteAccessKey(_ user: String, _ id: String) throws {
        try iam(["Action": "DeleteAccessKey", "UserName": user, "AccessKeyId": id])
    }

    /// Creates `role`, trusted as `trust` (an assume-role policy document), with an inline
    /// policy allowing `actions` on `resources`; returns its ARN.
    public func createRole(_ role: String, trust: String, allowing actions: [String], on resources: [String])
        throws -> String
    {
        try iam(["Action": "CreateRole", "RoleName": role, "AssumeRolePolicyDocument": trust])
        try iam([
            "Action": "PutRolePolicy", "RoleName": role, "PolicyName": "blobferry",
            "PolicyDocument": Self.allow(actions, on: resources),
        ])
        return "arn:aws:iam::\(Self.account):role/\(role)"
    }

    /// Lets the next `count` actions through without authentication (moto's
    /// `/moto-api/reset-auth`, which sets `INITIAL_NO_AUTH_ACTION_COUNT` and restarts its
    /// count). moto authenticates AssumeRoleWithWebIdentity, which AWS's STS takes
    /// unsigned: a web identity test lets that one call through.
    public func allowUnauthenticatedActions(_ count: Int) throws {
        try HostCommand.check(
            "curl",
            [
                "-s", "-f", "-m", "10", "-X", "POST", "-H", "Content-Type: text/plain", "--data", String(count),
                endpoint + "/moto-api/reset-auth",
            ],
            timeout: 20)
    }

    /// The HTTP status of a PUT of a small object signed with `key` (curl signs it).
    public func putStatus(bucket: String, key objectKey: String, with key: AccessKey) -> String {
        let result = try? HostCommand.run(
            "curl",
            [
                "-s", "-o", "/dev/null", "-m", "10", "-w", "%{http_code}", "-X", "PUT", "--data-binary", "probe",
                "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "--aws-sigv4", "aws:amz:\(Self.region):s3",
                "--user", "\(key.id):\(key.secret)", "\(endpoint)/\(bucket)/\(objectKey)",
            ], timeout: 15)
        return result?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    /// A policy document allowing `actions` on `resources`.
    public static func allow(_ actions: [String], on resources: [String]) -> String {
        json([
            "Version": "2012-10-17",
            "Statement": [["Effect": "Allow", "Action": actions, "Resource": resources]],
        ])
    }

    /// An assume-role policy trusting `principal` (`["AWS": arn]`, `["Federated": provider]`)
    /// for `action`.
    public static func trust(_ principal: [String: String], action: String = "sts:AssumeRole") -> String {
        json([
            "Version": "2012-10-17",
            "Statement": [["Effect": "Allow", "Principal": principal, "Action": action]],
        ])
    }

    private static func json(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }

    @discardableResult
    private static func iam(_ endpoint: String, _ key: AccessKey, _ parameters: [String: String], check: Bool = true)
        throws -> String
    {
        var arguments = [
            "-s", "-m", "10", "--aws-sigv4", "aws:amz:\(region):iam", "--user", "\(key.id):\(key.secret)",
            "--data-urlencode", "Version=2010-05-08",
        ]
        for (name, value) in parameters.sorted(by: { $0.key < $1.key }) {
            arguments += ["--data-urlencode", "\(name)=\(value)"]
        }
        let output = try HostCommand.check("curl", arguments + [endpoint + "/"], timeout: 20)
        if check, output.contains("<ErrorResponse") || !output.contains("Response") {
            throw HostCommand.Failed(
                command: "IAM \(parameters["Action"] ?? "?")", result: HostCommand.Result(status: 1, output: output))
        }
        return output
    }

    private static func accessKey(_ xml: String) throws -> AccessKey {
        func element(_ name: String) -> String? {
            guard let start = xml.range(of: "<\(name)>"),
                let end = xml.range(of: "</\(name)>", range: start.upperBound..<xml.endIndex)
            else { return nil }
            return String(xml[start.upperBound..<end.lowerBound])
        }
        guard let id = element("AccessKeyId"), let secret = element("SecretAccessKey") else {
            throw HostCommand.Failed(command: "IAM CreateAccessKey", result: HostCommand.Result(status: 1, output: xml))
        }
        return AccessKey(id: id, secret: secret)
    }
}
