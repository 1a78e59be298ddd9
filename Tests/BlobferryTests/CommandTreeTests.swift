import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// One command tree, `blobferry <command>`, and the two executables deployments name,
/// `blobferry-producer` and `blobferry-consumer`, which must stay the same commands: same
/// options, same behaviour, same exit codes.
@Suite(.serialized)
struct CommandTreeTests {
    static let subcommands = [
        "producer", "consumer", "status", "verify", "requeue-failed", "reset", "pause", "resume", "limits", "report",
        "estimate", "deleted", "delete-removed",
    ]

    /// Runs an executable without any blobferry setting in its environment.
    static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("BLOBFERRY_") && !$0.key.hasPrefix("AWS_") && !$0.key.hasPrefix("AZURE_")
        }
        environment["AWS_EC2_METADATA_DISABLED"] = "true"  // never the machine's own instance role
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("bf-cli-\(UUID()).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let process = try LocalProcess(
            MigrationHarness.binary(executable), arguments, environment: environment, logFile: log.path)
        let status = try await process.exitStatus(timeout: 60)
        return (status, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// The `OPTIONS:` section of a help text: what a command accepts, without its name.
    static func options(_ help: String) -> String {
        help.components(separatedBy: "OPTIONS:").last ?? ""
    }

    @Test func rootHelpListsEveryCommand() async throws {
        let help = try await Self.run("blobferry", ["--help"])
        #expect(help.status == 0, "\(help.output)")
        for command in Self.subcommands {
            #expect(help.output.contains("\n  \(command) "), "\(command) missing from \(help.output)")
        }
    }

    @Test(arguments: subcommands)
    func everySubcommandHasHelp(_ command: String) async throws {
        let help = try await Self.run("blobferry", [command, "--help"])
        #expect(help.status == 0, "\(help.output)")
        #expect(help.output.contains("USAGE: blobferry \(command)"), "\(help.output)")
    }

    /// `blobferry producer --help` and `blobferry-producer --help` (and the consumer's)
    /// list the same options; only the name in the usage line differs.
    @Test(arguments: ["producer", "consumer"])
    func aliasTakesTheSameOptions(_ command: String) async throws {
        let sub = try await Self.run("blobferry", [command, "--help"])
        let alias = try await Self.run("blobferry-\(command)", ["--help"])
        #expect(sub.status == 0 && alias.status == 0, "\(sub.output)\n\(alias.output)")
        #expect(alias.output.contains("USAGE: blobferry-\(command) "), "\(alias.output)")
        #expect(Self.options(alias.output) == Self.options(sub.output))
        #expect(Self.options(sub.output).contains("--concurrency") == (command == "consumer"))
        #expect(Self.options(sub.output).contains("--partitions") == (command == "producer"))
    }

    /// Bad usage exits 64 and a missing setting exits 2 with one line naming it, whichever
    /// way the command is spelled.
    @Test(arguments: ["producer", "consumer"])
    func aliasExitsWithTheSameCodes(_ command: String) async throws {
        for (executable, arguments, program) in [
            ("blobferry", [command], "blobferry \(command)"),
            ("blobferry-\(command)", [], "blobferry-\(command)"),
        ] {
            let usage = try await Self.run(executable, arguments + ["--no-such-flag"])
            #expect(usage.status == 64, "\(program): \(usage.output)")
            let missing = try await Self.run(executable, arguments)
            #expect(missing.status == BlobferryError.Code.configuration.rawValue, "\(program): \(missing.output)")
            let lines = missing.output.split(separator: "\n").filter { $0.hasPrefix("\(program): ") }
            #expect(lines.count == 1 && lines.first?.contains("BLOBFERRY_JOB") == true, "\(missing.output)")
        }
    }

    /// A whole migration through `blobferry producer` and `blobferry consumer`, then the
    /// alias executables on the same job: they see it as done and copy nothing more.
    @Test func subcommandsAndAliasesRunTheSameJob() async throws {
        let harness = try await MigrationHarness(name: "command-tree")
        let expected = try await harness.seed((0..<30).map { "tree/\($0)" } + ["_other/x", "Z"])
        // A later pass copies again what changed at or after the second this pass starts
        // (Last-Modified has whole seconds): leave the seeding's second behind, so the
        // rerun below has nothing to copy.
        try await Task.sleep(nanoseconds: 1_100_000_000)
        let producer = try await harness.run("blobferry", ["producer"], label: "producer")
        #expect(producer.status == 0 && producer.output.contains("enqueued 32,"), "\(producer.output)")
        let consumer = try await harness.run("blobferry", ["consumer", "--concurrency", "8"], label: "consumer")
        #expect(consumer.status == 0 && consumer.output.contains("copied 32 "), "\(consumer.output)")
        #expect(try await harness.mismatches(expected) == [])

        let again = try await harness.run("blobferry-producer", label: "producer-alias")
        #expect(again.status == 0 && again.output.contains("enqueued 0,"), "\(again.output)")
        let idle = try await harness.run("blobferry-consumer", ["--concurrency", "8"], label: "consumer-alias")
        #expect(idle.status == 0 && idle.output.contains("copied 0 "), "\(idle.output)")
        let status = try await harness.status()
        #expect(status.complete && status.copied == 32 && status.failed == 0)
    }
}
