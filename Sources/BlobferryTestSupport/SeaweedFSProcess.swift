import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A SeaweedFS S3 server (`weed mini`) a test owns, on free ports of one IPv4 address (the
/// shared one of `scripts/services.sh` listens on loopback only, which processes in other
/// network namespaces cannot reach). Started as `services.sh` starts the shared one: SigV4
/// enforced for one identity, every port pinned, telemetry, WebDAV and the admin UI off.
/// Stopped, and its data and sockets removed, when released.
public final class SeaweedFSProcess: @unchecked Sendable {
    public static let accessKey = "blobferry-test"
    public static let secretKey = "blobferry-test-secret-key"
    public static let region = "us-east-1"

    public let host: String
    public let s3Port: Int
    /// Data, config and log.
    public let directory: URL
    public var logFile: String { directory.appendingPathComponent("weed.log").path }
    /// `http://<host>:<s3Port>`, no trailing slash.
    public var endpoint: String { "http://\(host):\(s3Port)" }
    private let ports: [Int]
    private let process: LocalProcess

    /// Starts `weed mini` and waits until a signed request to its S3 port succeeds and one
    /// signed with a wrong secret is refused.
    public init(host: String = "127.0.0.1", timeout: TimeInterval = 60) throws {
        var ports: [Int] = []
        while ports.count < 10 {
            let port = try LoopbackPort.free()
            if !ports.contains(port) { ports.append(port) }
        }
        let (master, masterGRPC, volume, volumeGRPC, filer, filerGRPC, s3, s3GRPC, admin, adminGRPC) = (
            ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6], ports[7], ports[8], ports[9]
        )
        self.host = host
        self.ports = ports
        s3Port = s3
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("blobferry-weed-\(UUID().uuidString)")
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("s3.json")
        try Data(
            """
            {"identities": [{"name": "blobferry",
              "credentials": [{"accessKey": "\(Self.accessKey)", "secretKey": "\(Self.secretKey)"}],
              "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
            """.utf8
        ).write(to: config)
        let arguments = [
            "mini", "-dir=\(data.path)", "-ip=\(host)", "-ip.bind=\(host)",
            "-master.port=\(master)", "-master.port.grpc=\(masterGRPC)", "-master.telemetry=false",
            "-volume.port=\(volume)", "-volume.port.grpc=\(volumeGRPC)",
            "-filer.port=\(filer)", "-filer.port.grpc=\(filerGRPC)",
            "-s3.port=\(s3)", "-s3.port.grpc=\(s3GRPC)", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-s3.config=\(config.path)", "-admin.ui=false", "-admin.port=\(admin)",
            "-admin.port.grpc=\(adminGRPC)", "-webdav=false",
        ]
        process = try LocalProcess(
            "weed", arguments, logFile: directory.appendingPathComponent("weed.log").path)
        let deadline = Date().addingTimeInterval(timeout)
        var ready = false
        while Date() < deadline, process.isRunning {
            if LoopbackPort.isOpen(s3, host: host), Self.signedStatus(endpoint, secret: Self.secretKey) == "200" {
                ready = true
                break
            }
            usleep(100_000)
        }
        guard ready else {
            let why = process.isRunning ? "did not answer within \(Int(timeout)) s" : "exited during start-up"
            stop()
            throw LocalProcess.TimedOut(what: "SeaweedFS on \(host) \(why) (see \(logFile))")
        }
        let refused = Self.signedStatus(endpoint, secret: "wrong-secret")
        guard refused == "403" else {
            stop()
            throw LocalProcess.TimedOut(what: "SeaweedFS on \(host) accepted a wrong secret (HTTP \(refused))")
        }
    }

    deinit { stop() }

    /// Stops the server and removes its data, and the Unix sockets weed leaves in /tmp
    /// (named after its ports: only this server's). Safe to call more than once.
    public func stop() {
        if process.isRunning {
            kill(process.pid, SIGTERM)
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning, Date() < deadline { usleep(50_000) }
            process.stop(signal: SIGKILL)
        }
        let temporary = "/tmp"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []
        for name in names where name.hasPrefix("seaweedfs-") {
            if ports.contains(where: { name.hasSuffix("-\($0).sock") }) {
                try? FileManager.default.removeItem(atPath: temporary + "/" + name)
            }
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// The status of a SigV4-signed `GET /` (curl signs it), or "" when curl failed.
    private static func signedStatus(_ endpoint: String, secret: String) -> String {
        let result = try? HostCommand.run(
            "curl",
            [
                "-s", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}", "--aws-sigv4", "aws:amz:\(region):s3",
                "--user", "\(accessKey):\(secret)", endpoint + "/",
            ], timeout: 5)
        return result?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }
}
