import Foundation

/// A throwaway PKI in a temporary directory: a private CA, a server certificate it signed
/// for 127.0.0.1 and localhost, an unrelated CA, and CA files built from them.
public final class TestPKI: @unchecked Sendable {
    public let directory: URL
    /// The private CA alone.
    public let caFile: String
    /// Another CA that signed nothing the server shows.
    public let otherCAFile: String
    /// The system bundle plus the private CA: what a deployment with a private S3 store uses.
    public let bundleFile: String
    public let serverCertificate: String
    public let serverKey: String

    public init() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bf-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        caFile = path("ca.pem")
        otherCAFile = path("other-ca.pem")
        bundleFile = path("bundle.pem")
        serverCertificate = path("server.pem")
        serverKey = path("server.key")
        let caExtensions = [
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ]
        try await Self.openssl(
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", caFile, "-days",
                "2",
                "-subj", "/CN=blobferry test CA",
            ] + caExtensions, in: directory)
        try await Self.openssl(
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("other-ca.key"), "-out", otherCAFile,
                "-days", "2", "-subj", "/CN=blobferry unrelated CA",
            ] + caExtensions, in: directory)
        try await Self.openssl(
            [
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", serverKey, "-out", path("server.csr"),
                "-subj", "/CN=127.0.0.1",
            ], in: directory)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: path("server.ext"), atomically: true, encoding: .utf8)
        try await Self.openssl(
            [
                "x509", "-req", "-in", path("server.csr"), "-CA", caFile, "-CAkey", path("ca.key"), "-CAcreateserial",
                "-out", serverCertificate, "-days", "2", "-extfile", path("server.ext"),
            ], in: directory)
        let system = (try? String(contentsOfFile: Self.systemBundle, encoding: .utf8)) ?? ""
        try (system + "\n" + String(contentsOfFile: caFile, encoding: .utf8)).write(
            toFile: bundleFile, atomically: true, encoding: .utf8)
    }

    /// Debian's system bundle (what curl here is built with).
    public static let systemBundle = "/etc/ssl/certs/ca-certificates.crt"

    private static func openssl(_ arguments: [String], in directory: URL) async throws {
        let log = directory.appendingPathComponent("openssl.log").path
        let process = try LocalProcess("openssl", arguments, logFile: log)
        let status = try await process.exitStatus(timeout: 60)
        guard status == 0 else {
            throw HostCommand.Failed(
                command: "openssl \(arguments.first ?? "")",
                result: HostCommand.Result(
                    status: status, output: (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""))
        }
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}
