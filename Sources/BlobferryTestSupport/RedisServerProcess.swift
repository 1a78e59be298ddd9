import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A real `redis-server` a test owns, on a free port (of loopback, or of the address a test
/// gives) in a fresh temporary directory, so Redis behaviour (AUTH, ACLs, AOF, restarts, crashes) is tested against the
/// real thing rather than a mock.
///
/// `stop()` shuts it down cleanly (SIGTERM: the AOF is flushed), `kill()` crashes it
/// (SIGKILL), and `start()` brings it back on the same port and directory, so data written
/// with `appendOnly` survives a restart. The directory is removed when the object goes away.
public final class RedisServerProcess: @unchecked Sendable {
    public let port: Int
    /// The IPv4 address it listens on (127.0.0.1 unless the test chose another).
    public let host: String
    /// The server's working directory (AOF, log).
    public let directory: URL
    public let password: String?
    private let arguments: [String]
    private let lock = NSLock()
    private var process: LocalProcess?

    /// `redis://<host>:<port>`, with `:<password>@` (percent-encoded) when the default
    /// user has a password.
    public var url: String { url(username: nil, password: password) }

    /// The server's log file (useful when a test fails).
    public var logFile: String { directory.appendingPathComponent("redis.log").path }

    /// Starts a server and waits until it answers PING.
    ///
    /// - Parameters:
    ///   - appendOnly: turn on the AOF with `appendfsync everysec`.
    ///   - password: `requirepass` for the default user.
    ///   - aclUsers: raw `ACL SETUSER` rule lines, e.g. `"job1 on >secret ~blobferry:job1:* +@all"`.
    ///   - extraArguments: more `redis-server` options, e.g. `["--enable-debug-command", "yes"]`.
    ///   - host: the IPv4 address to listen on (e.g. a bridge that network namespaces reach).
    public init(
        appendOnly: Bool = false, password: String? = nil, aclUsers: [String] = [],
        extraArguments: [String] = [], host: String = "127.0.0.1"
    ) throws {
        port = try LoopbackPort.free()
        self.host = host
        self.password = password
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("blobferry-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var arguments = [
            "--port", String(port), "--bind", host, "--dir", directory.path,
            "--daemonize", "no", "--save", "", "--logfile", "redis.log",
            "--appendonly", appendOnly ? "yes" : "no", "--appendfsync", "everysec",
        ]
        if let password { arguments += ["--requirepass", password] }
        if password == nil, !host.hasPrefix("127.") {
            // Without a password Redis answers DENIED to every client but loopback; a test
            // binding it elsewhere (a bridge its network namespaces reach) wants them served.
            arguments += ["--protected-mode", "no"]
        }
        for rule in aclUsers {
            // Each word of a config line is its own argument ("--user" starts the line).
            arguments += ["--user"] + rule.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        }
        self.arguments = arguments + extraArguments
        try start()
    }

    deinit {
        process?.stop(signal: SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }

    /// A URL for this server with other credentials (percent-encoded) and database.
    public func url(username: String? = nil, password: String? = nil, database: Int? = nil) -> String {
        var text = "redis://"
        if username != nil || password != nil {
            text += Self.encode(username ?? "")
            if let password { text += ":" + Self.encode(password) }
            text += "@"
        }
        text += "\(host):\(port)"
        if let database { text += "/\(database)" }
        return text
    }

    public var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return process?.isRunning ?? false
    }

    /// Starts the server (again) on the same port and directory and waits until it answers
    /// PING (not LOADING). Does nothing if it is already running.
    public func start(timeout: TimeInterval = 20) throws {
        lock.lock()
        defer { lock.unlock() }
        if let process, process.isRunning { return }
        let started = try LocalProcess("redis-server", arguments)
        process = started
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard started.isRunning else {
                throw LocalProcess.TimedOut(what: "redis-server exited at start; see \(logFile): \(logTail())")
            }
            if ping() { return }
            usleep(20_000)
        }
        throw LocalProcess.TimedOut(what: "redis-server not ready on port \(port) after \(Int(timeout)) s")
    }

    /// Shuts the server down with SIGTERM (AOF flushed) and waits for it to exit (SIGKILL
    /// after `timeout`).
    public func stop(timeout: TimeInterval = 15) {
        lock.lock()
        defer { lock.unlock() }
        if let process, process.isRunning {
            deliver(SIGTERM, to: process.pid)
            _ = try? process.wait(timeout: timeout)
        }
        process = nil
    }

    /// Crashes the server with SIGKILL (up to a second of AOF `everysec` writes may be lost).
    public func kill() {
        lock.lock()
        defer { lock.unlock() }
        process?.stop(signal: SIGKILL)
        process = nil
    }

    private func logTail() -> String {
        guard let text = try? String(contentsOfFile: logFile, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n").suffix(5).joined(separator: " | ")
    }

    /// Whether the server answers PING with anything but LOADING (a NOAUTH or NOPERM answer
    /// still means it is up). Speaks RESP over a raw socket: this module must not depend on
    /// the client it helps to test.
    private func ping() -> Bool {
        guard LoopbackPort.isOpen(port, host: host) else { return false }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var wait = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr(host)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else { return false }
        var request = ""
        var expected = 1
        if let password {
            request += "*2\r\n$4\r\nAUTH\r\n$\(password.utf8.count)\r\n\(password)\r\n"
            expected = 2
        }
        request += "*1\r\n$4\r\nPING\r\n"
        let bytes = Array(request.utf8)
        let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { return false }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while received.filter({ $0 == UInt8(ascii: "\n") }).count < expected {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return false }
            received += buffer[0..<count]
        }
        let lines = String(decoding: received, as: UTF8.self).split(separator: "\r\n")
        guard let last = lines.last else { return false }
        return !last.hasPrefix("-LOADING")
    }

    private static func encode(_ text: String) -> String {
        let unreserved = CharacterSet(
            charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
}

/// `kill(2)`, reachable from inside `RedisServerProcess` whose `kill()` method shadows it.
private func deliver(_ signal: Int32, to pid: Int32) {
    _ = kill(pid, signal)
}
