import ArgumentParser
import Blobferry
import Foundation

// `blobferry deleted` and `blobferry delete-removed`: blobs deleted in Azure since they
// were copied, as the last completed pass found them.

/// The job's deleted sets, as both commands read them.
private func sourceDeletions(_ settings: Settings) throws -> SourceDeletions {
    let logger = Runtime.logger(label: "blobferry", level: settings.logLevel)
    return SourceDeletions(
        store: try JobStore(settings: settings, logger: logger), destinationPrefix: settings.destination.prefix,
        logger: logger)
}

/// `blobferry deleted`: lists the keys the last completed pass did not find in Azure.
struct DeletedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deleted",
        abstract:
            "List the copied blobs the last completed pass did not find in Azure (deleted there since they were copied)."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Write every one to this file, one JSON object a line (name, partition, object).")
    var output: String?

    @Option(help: "Print at most this many names.")
    var show = 20

    func run() async throws {
        try await runReportingErrors("blobferry deleted") {
            let settings = try common.settings()
            try settings.validate(for: .admin)
            let deletions = try sourceDeletions(settings)
            let file = try output.map { try DeletedListFile(path: $0) }
            var count = 0
            try await deletions.forEach { names, partition in
                for name in names {
                    if count < show { print("deleted in Azure: \(name.escapedForDisplay)") }
                    count += 1
                    try file?.write(name: name, partition: partition, object: deletions.objectKey(name))
                }
            }
            try file?.close()
            print(
                "\(count) copied blobs were not found by the last completed pass (deleted in Azure)"
                    + (output.map { count > 0 ? "; every one in \($0)" : "" } ?? ""))
            if count > 0 {
                print("`blobferry delete-removed` shows what it would delete from S3; --apply deletes it")
            }
            return 0
        }
    }
}

/// `blobferry delete-removed`: deletes the S3 objects of blobs deleted in Azure, only with
/// `--apply`; without it, says what it would delete.
struct DeleteRemovedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-removed",
        abstract:
            "Delete from S3 the objects of blobs the last completed pass did not find in Azure. Dry run unless --apply."
    )

    @OptionGroup var common: CommonOptions

    @Flag(help: "Really delete (without it, only print how many and the first names).")
    var apply = false

    @Option(help: "Print at most this many names in a dry run.")
    var show = 20

    func run() async throws {
        try await runReportingErrors("blobferry delete-removed") {
            let settings = try common.settings()
            try settings.validate(for: .consumer)
            let logger = Runtime.logger(label: "blobferry", level: settings.logLevel)
            let deletions = try sourceDeletions(settings)
            let target = "s3://\(settings.destination.bucket)/\(settings.destination.prefix)"
            guard apply else {
                var count = 0
                try await deletions.forEach { names, _ in
                    for name in names {
                        if count < show { print("would delete: \(deletions.objectKey(name).escapedForDisplay)") }
                        count += 1
                    }
                }
                print("dry run: would delete \(count) objects from \(target) (add --apply to delete them)")
                return 0
            }
            let http = try Runtime.httpEngine(connections: 4, caBundle: settings.caBundle)
            defer { http.shutdown() }
            let s3 = try await Runtime.s3Client(settings: settings, http: http, logger: logger)
            let outcome = try await deletions.apply(s3: s3, settings: settings)
            print(
                "deleted \(outcome.deleted) objects from \(target)"
                    + (outcome.refused > 0
                        ? "; S3 refused \(outcome.refused) (still listed), the last: \(outcome.lastRefusal ?? "")" : "")
            )
            return outcome.refused > 0 ? 1 : 0
        }
    }
}

/// The `deleted --output` file: one JSON object a line.
private final class DeletedListFile {
    private let handle: FileHandle
    private let encoder = JSONEncoder()

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let handle = FileHandle(forWritingAtPath: path)
        else {
            throw BlobferryError(.configuration, "cannot write '\(path)'")
        }
        self.handle = handle
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    func write(name: String, partition: String, object: String) throws {
        let line = try encoder.encode(["name": name, "partition": partition, "object": object])
        try handle.write(contentsOf: line + Data("\n".utf8))
    }

    func close() throws { try handle.close() }
}
