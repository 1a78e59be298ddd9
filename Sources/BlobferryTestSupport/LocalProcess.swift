import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A service process a test starts and owns (redis-server, the Azure emulator, a
/// blobferry binary): it is stopped when the test is done with it, and a test that kills
/// it (SIGKILL) can see exactly what a crash looks like to the rest of the system.
public final class LocalProcess: @unchecked Sendable {
    public let executable: String
    public let arguments: [String]
    private let process: Process

    /// Starts `executable` (a path, or a name looked up in PATH) with `arguments`.
    /// Output goes to `logFile` when given, else is discarded.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        logFile: String? = nil
    ) throws {
        self.executable = executable
        self.arguments = arguments
        let process = Process()
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        if let environment { process.environment = environment }
        if let logFile {
            FileManager.default.createFile(atPath: logFile, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
            process.standardOutput = handle
            process.standardError = handle
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        process.standardInput = FileHandle.nullDevice
        try Self.withDefaultSignalMask { try process.run() }
        self.process = process
    }

    /// Runs `body` (which spawns a process) with no signal blocked on this thread. A child
    /// inherits its parent thread's signal mask, and the threads Swift concurrency and
    /// Dispatch run tests on block SIGTERM and others: a child started from them would
    /// ignore SIGTERM and never stop gracefully.
    private static func withDefaultSignalMask<T>(_ body: () throws -> T) rethrows -> T {
        var none = sigset_t()
        var previous = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return try body()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` (SIGTERM by default) and waits for the process to exit.
    public func stop(signal: Int32 = SIGTERM) {
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
    }

    /// Waits for the process to exit by itself and returns its exit status.
    @discardableResult
    public func wait(timeout: TimeInterval = 600) throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                stop(signal: SIGKILL)
                throw TimedOut(what: "\(executable) did not exit within \(Int(timeout)) s")
            }
            usleep(20_000)
        }
        return process.terminationStatus
    }

    /// Like `wait`, but suspends instead of blocking a thread: tests run many processes at
    /// once, and a blocked cooperative thread starves every other test on a 2-core machine.
    @discardableResult
    public func exitStatus(timeout: TimeInterval = 600) async throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                stop(signal: SIGKILL)
                throw TimedOut(what: "\(executable) did not exit within \(Int(timeout)) s")
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    /// A wait that ran out of time.
    public struct TimedOut: Error, CustomStringConvertible {
        public let what: String
        public var description: String { what }
    }
}

/// Loopback ports for services a test starts itself.
public enum LoopbackPort {
    /// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it).
    public static func free() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LocalProcess.TimedOut(what: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic -> Int32 in
                guard bind(fd, generic, length) == 0 else { return -1 }
                return getsockname(fd, generic, &length)
            }
        }
        guard bound == 0 else { throw LocalProcess.TimedOut(what: "bind() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Waits until something accepts TCP connections on `host`:`port` (an IPv4 address of
    /// this host: loopback, or a bridge a test made for its network namespaces).
    public static func waitUntilOpen(_ port: Int, host: String = "127.0.0.1", timeout: TimeInterval = 20) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if isOpen(port, host: host) { return }
            usleep(20_000)
        }
        throw LocalProcess.TimedOut(what: "nothing listens on \(host):\(port) after \(Int(timeout)) s")
    }

    /// Whether something accepts TCP connections on `host`:`port` right now.
    public static func isOpen(_ port: Int, host: String = "127.0.0.1") -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr(host)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
