import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The local HTTP/1.1 echo server (`scripts/http_echo_server.py`) on a free loopback
/// port, owned by one test: HTTP engine tests need a server whose behaviour they control
/// (slow replies, exact echo of what arrived on the wire, connection counts) and that
/// no other test shares. Stopped when released.
public final class EchoServerProcess: @unchecked Sendable {
    public let port: Int
    /// Where the server's own output goes (useful when a test fails).
    public let logFile: String
    private let process: LocalProcess

    /// `http://127.0.0.1:<port>`, no trailing slash.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts the server and waits until it accepts connections. `script` and `arguments`
    /// start another server of the same kind instead (`scripts/credential_endpoints.py`).
    public init(
        python: String = "python3", script scriptPath: String = "scripts/http_echo_server.py", arguments: [String] = []
    ) throws {
        let script = TestEnvironment.path(scriptPath)
        let directory = NSTemporaryDirectory()
        let tag = UUID().uuidString.prefix(8)
        var lastError: Error = LocalProcess.TimedOut(what: "http_echo_server.py did not start")
        for attempt in 0..<3 {
            let portFile = (directory as NSString).appendingPathComponent("blobferry-echo-\(tag)-\(attempt).port")
            let logFile = (directory as NSString).appendingPathComponent("blobferry-echo-\(tag)-\(attempt).log")
            try? FileManager.default.removeItem(atPath: portFile)
            let wanted = try LoopbackPort.free()
            let process = try LocalProcess(
                python, [script, "--port", String(wanted), "--port-file", portFile] + arguments, logFile: logFile)
            let deadline = Date().addingTimeInterval(20)
            var bound: Int?
            while Date() < deadline, process.isRunning {
                if let text = try? String(contentsOfFile: portFile, encoding: .utf8),
                    let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
                {
                    bound = port
                    break
                }
                usleep(20_000)
            }
            guard let bound else {
                // Most likely someone took the port between free() and bind(): try another.
                process.stop(signal: SIGKILL)
                lastError = LocalProcess.TimedOut(what: "http_echo_server.py did not start (see \(logFile))")
                continue
            }
            // The port file is written once the socket listens; no probe connection
            // (tests count the connections the server accepted).
            try? FileManager.default.removeItem(atPath: portFile)
            self.port = bound
            self.logFile = logFile
            self.process = process
            return
        }
        throw lastError
    }

    /// The server's process id (e.g. to read its CPU time from /proc).
    public var pid: Int32 { process.pid }

    /// A URL on this server, `path` starting with "/".
    public func url(_ path: String) -> String { baseURL + path }

    /// Stops the server (also done when released).
    public func stop() { process.stop() }

    deinit { process.stop() }
}
