import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// stunnel in server mode in front of a plain HTTP service (the Azure emulator, SeaweedFS):
/// `https://127.0.0.1:<port>` with a certificate of a `TestPKI`, so end-to-end runs can
/// check certificate verification with the CA bundle setting. Stopped when released.
public final class TLSTerminator: @unchecked Sendable {
    public let port: Int
    public let logFile: String
    private let process: LocalProcess

    /// Starts stunnel accepting TLS on a free loopback port and forwarding to
    /// 127.0.0.1:`target`, and waits until it listens.
    public init(pki: TestPKI, target: Int) throws {
        var lastError: Error = LocalProcess.TimedOut(what: "stunnel did not start")
        for attempt in 0..<3 {
            let port = try LoopbackPort.free()
            let name = "stunnel-\(target)-\(attempt)"
            let config = pki.directory.appendingPathComponent("\(name).conf").path
            let logFile = pki.directory.appendingPathComponent("\(name).log").path
            try """
            foreground = yes
            pid =
            [https]
            accept = 127.0.0.1:\(port)
            connect = 127.0.0.1:\(target)
            cert = \(pki.serverCertificate)
            key = \(pki.serverKey)

            """.write(toFile: config, atomically: true, encoding: .utf8)
            let process = try LocalProcess("stunnel", [config], logFile: logFile)
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline, process.isRunning, !LoopbackPort.isOpen(port) { usleep(20_000) }
            guard process.isRunning, LoopbackPort.isOpen(port) else {
                // Most likely someone took the port between free() and bind(): try another.
                process.stop(signal: SIGKILL)
                lastError = LocalProcess.TimedOut(what: "stunnel did not start (see \(logFile))")
                continue
            }
            self.port = port
            self.logFile = logFile
            self.process = process
            return
        }
        throw lastError
    }

    /// `https://127.0.0.1:<port>`, no trailing slash.
    public var baseURL: String { "https://127.0.0.1:\(port)" }

    deinit { process.stop() }
}
