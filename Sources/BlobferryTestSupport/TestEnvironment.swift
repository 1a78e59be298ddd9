import Foundation

/// Where the shared local services of a test run live.
///
/// `scripts/services.sh start` launches redis-server, SeaweedFS (S3), moto and the Azure
/// emulator on free loopback ports and writes their addresses to `.run/services.env`;
/// `make test` exports that file before `swift test`. Tests read it here so that a test
/// run without the services fails with one line saying so instead of hanging.
public enum TestEnvironment {
    /// Error thrown when a service variable is missing: run the tests through `make test`.
    public struct MissingService: Error, CustomStringConvertible {
        public let variable: String
        public var description: String {
            "\(variable) is not set: run the tests with `make test` (or `scripts/services.sh start` and export .run/services.env)"
        }
    }

    /// Reads one variable of `.run/services.env` from the environment.
    public static func value(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw MissingService(variable: name)
        }
        return value
    }

    /// The repository root, found from this file's location (tests run from anywhere).
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // TestEnvironment.swift
            .deletingLastPathComponent()  // BlobferryTestSupport
            .deletingLastPathComponent()  // Sources
    }

    /// A path inside the repository, e.g. `scripts/azure_emulator.py`.
    public static func path(_ relative: String) -> String {
        repositoryRoot.appendingPathComponent(relative).path
    }
}
