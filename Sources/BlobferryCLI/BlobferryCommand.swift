import ArgumentParser
import Blobferry
import Logging

/// `blobferry`: every command of a migration under one root, as `git` or `swift` do.
struct BlobferryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blobferry",
        abstract: "Migrate an Azure Blob Storage container to S3 through Redis.",
        discussion: """
            `blobferry-producer` and `blobferry-consumer` are the same commands as \
            `blobferry producer` and `blobferry consumer` (same options, same exit codes).
            """,
        subcommands: [
            ProducerCommand.self, ConsumerCommand.self, StatusCommand.self, VerifyCommand.self,
            RequeueFailedCommand.self, ResetCommand.self, ExporterCommand.self, PauseCommand.self,
            ResumeCommand.self, LimitsCommand.self, ReportCommand.self, EstimateCommand.self, DeletedCommand.self,
            DeleteRemovedCommand.self,
        ])
}

/// The executables' entry points. Each executable's `main` calls one of these and does
/// nothing else, so every process bootstraps logging once, before anything logs, and then
/// parses its arguments with swift-argument-parser (which also maps errors to exit codes).
public enum BlobferryMain {
    /// `blobferry <command>`.
    public static func blobferry() async { await run(BlobferryCommand.self) }

    /// `blobferry-producer`: `blobferry producer` under the name deployments use.
    public static func producer() async { await run(ProducerAliasCommand.self) }

    /// `blobferry-consumer`: `blobferry consumer` under the name deployments use.
    public static func consumer() async { await run(ConsumerAliasCommand.self) }

    private static func run<Command: AsyncParsableCommand>(_ command: Command.Type) async {
        _ = loggingBootstrapped
        await command.main()
    }

    /// swift-log allows one bootstrap per process (a second one traps); a global's
    /// initializer runs exactly once. Every logger writes to stderr, so stdout carries only
    /// the commands' results (`status --json` is read by scripts); text or JSON lines as
    /// `log_format` says (`LogOutput`).
    private static let loggingBootstrapped: Void = LoggingSystem.bootstrap {
        LogOutput.handler(label: $0)
    }
}
