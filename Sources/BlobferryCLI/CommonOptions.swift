import ArgumentParser
import Blobferry

/// Options every blobferry command takes; each overrides the config file and the
/// environment.
struct CommonOptions: ParsableArguments {
    @Option(help: "YAML config file (default: $BLOBFERRY_CONFIG).")
    var config: String?

    @Option(help: .init(stringLiteral: SettingFlags.help("job")))
    var job: String?

    @Option(help: .init(stringLiteral: SettingFlags.help("log-level")))
    var logLevel: String?

    @Option(help: .init(stringLiteral: SettingFlags.help("log-format")))
    var logFormat: String?

    /// Settings from defaults, file, environment and these flags.
    func settings() throws -> Settings {
        var settings = try SettingsLoader.load(configPath: config)
        if let job { settings.job = job }
        if let logLevel { settings.logLevel = logLevel }
        if let logFormat { settings.logFormat = logFormat }
        LogOutput.format = settings.logFormat == "json" ? .json : .text
        return settings
    }
}

/// Runs a command body the blobferry way: errors become one stderr line and an exit code.
func runReportingErrors(_ program: String, _ body: () async throws -> Int32) async throws {
    let status: Int32
    do {
        status = try await body()
    } catch let error as BlobferryError {
        printError("\(program): \(error.message)")
        throw ExitCode(error.exitCode)
    } catch let error as RemoteError {
        printError("\(program): \(error)")
        throw ExitCode(error.exitCode)
    }
    if status != 0 { throw ExitCode(status) }
}
