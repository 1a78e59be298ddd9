import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A short command a test runs to the end to set something up on this host (`ip`, `curl`):
/// its exit status and what it printed. For processes that run alongside a test, use
/// `LocalProcess`.
public enum HostCommand {
    public struct Result: Sendable {
        public let status: Int32
        public let output: String
        public var succeeded: Bool { status == 0 }
    }

    /// A failed command, with what it printed.
    public struct Failed: Error, CustomStringConvertible {
        public let command: String
        public let result: Result
        public var description: String {
            "`\(command)` exited \(result.status): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
    }

    /// Runs `executable` (a path, or a name looked up in PATH) with `arguments`, stdout and
    /// stderr together, and kills it after `timeout` seconds (status 137 then).
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 30) throws -> Result {
        let process = Process()
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        let output = FileManager.default.temporaryDirectory
            .appendingPathComponent("blobferry-command-\(UUID().uuidString).out")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                break
            }
            usleep(5_000)
        }
        process.waitUntilExit()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        return Result(status: process.terminationStatus, output: text)
    }

    /// Like `run`, but throws `Failed` unless the command exits 0; returns its output.
    @discardableResult
    public static func check(_ executable: String, _ arguments: [String], timeout: TimeInterval = 30) throws -> String {
        let result = try run(executable, arguments, timeout: timeout)
        guard result.succeeded else {
            throw Failed(command: ([executable] + arguments).joined(separator: " "), result: result)
        }
        return result.output
    }

    /// The first of `candidates` that is an executable file, else nil.
    public static func find(_ candidates: [String]) -> String? {
        candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
