import Foundation
import Testing

@testable import Blobferry
@testable import BlobferryCLI

struct SettingsTests {
    static let key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    static let complete: [String: String] = [
        "BLOBFERRY_JOB": "job1",
        "BLOBFERRY_REDIS_URL": "redis://user:s3cret@127.0.0.1:6379/2",
        "AZURE_STORAGE_CONNECTION_STRING":
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=\(key);BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
        "BLOBFERRY_SOURCE_CONTAINER": "photos",
        "BLOBFERRY_DEST_BUCKET": "archive",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:8333",
    ]

    @Test func theEnvironmentAloneConfiguresAJob() throws {
        let settings = try SettingsLoader.load(configPath: nil, environment: Self.complete)
        try settings.validate(for: .consumer)
        try settings.validate(for: .producer)
        #expect(settings.source.account == "devstoreaccount1")
        #expect(settings.sourceEndpoint == "http://127.0.0.1:10000/devstoreaccount1")
        #expect(settings.destination.endpoint == "http://127.0.0.1:8333")
        #expect(settings.source.key?.exposedValue == Self.key)
    }

    @Test func secretsNeverPrint() throws {
        let settings = try SettingsLoader.load(configPath: nil, environment: Self.complete)
        let printed = "\(settings) \(String(reflecting: settings))"
        for secret in [Self.key, "s3cret", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"] {
            #expect(!printed.contains(secret))
        }
    }

    @Test(arguments: [
        ("BLOBFERRY_JOB", "", "job is not set"),
        ("BLOBFERRY_JOB", "bad job!", "may hold only"),
        ("BLOBFERRY_DEST_BUCKET", "", "BLOBFERRY_DEST_BUCKET"),
        ("BLOBFERRY_SOURCE_CONTAINER", "", "BLOBFERRY_SOURCE_CONTAINER"),
        ("BLOBFERRY_SOURCE_CONTAINER", "Bad_Name", "not a valid Azure container name"),
        ("AWS_SECRET_ACCESS_KEY", "", "AWS_SECRET_ACCESS_KEY"),
        ("BLOBFERRY_REDIS_URL", "http://nope", "redis url"),
        ("BLOBFERRY_CONCURRENCY", "lots", "BLOBFERRY_CONCURRENCY=lots"),
        ("BLOBFERRY_CONCURRENCY", "0", "consumer.concurrency"),
        ("BLOBFERRY_PARTITIONS", "a,_other", "reserved"),
        ("AWS_ENDPOINT_URL_S3", "not a url", "AWS_ENDPOINT_URL_S3"),
        ("BLOBFERRY_DEST_STORAGE_CLASS_BY_TIER", "Hot=STANDARD,Warm=STANDARD_IA", "'Warm=STANDARD_IA'"),
        ("BLOBFERRY_DEST_STORAGE_CLASS_BY_TIER", "Cool=CHEAP", "storage_class_by_tier"),
        ("BLOBFERRY_DEST_STORAGE_CLASS_BY_TIER", "Cool", "TIER=CLASS"),
    ])
    func eachBadSettingIsNamed(variable: String, value: String, message: String) throws {
        var environment = Self.complete
        environment[variable] = value
        let error = #expect(throws: BlobferryError.self) {
            let settings = try SettingsLoader.load(configPath: nil, environment: environment)
            try settings.validate(for: .consumer)
        }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("s3cret") == false)
    }

    @Test func theTierMappingIsReadCaseInsensitivelyByTier() throws {
        var environment = Self.complete
        environment["BLOBFERRY_DEST_STORAGE_CLASS_BY_TIER"] = " Hot=STANDARD , cool=STANDARD_IA,COLD=GLACIER_IR"
        let settings = try SettingsLoader.load(configPath: nil, environment: environment)
        try settings.validate(for: .consumer)
        #expect(
            settings.destination.storageClassesByTier == [
                "hot": "STANDARD", "cool": "STANDARD_IA", "cold": "GLACIER_IR",
            ])
    }

    @Test func aBadAccountKeyIsRejectedWithoutEchoingIt() throws {
        var environment = Self.complete
        environment.removeValue(forKey: "AZURE_STORAGE_CONNECTION_STRING")
        environment["AZURE_STORAGE_ACCOUNT"] = "acct"
        environment["AZURE_STORAGE_KEY"] = "not*base64"
        let error = #expect(throws: BlobferryError.self) {
            try SettingsLoader.load(configPath: nil, environment: environment).validate(for: .producer)
        }
        #expect(error?.message.contains("AZURE_STORAGE_KEY") == true)
        #expect(error?.message.contains("not*base64") == false)
    }

    @Test func theExampleFileLoadsAndTheEnvironmentWins() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/blobferry.example.yaml").path
        let fromFile = try SettingsLoader.load(configPath: path, environment: [:])
        #expect(fromFile.job == "photos-2026")
        #expect(fromFile.source.container == "photos")
        #expect(fromFile.consumer.concurrency == 64)
        #expect(fromFile.producer.partitions == "one-char")
        let overridden = try SettingsLoader.load(configPath: path, environment: ["BLOBFERRY_JOB": "other"])
        #expect(overridden.job == "other")
    }

    @Test func unknownOrMistypedFileSettingsAreNamed() throws {
        let directory = FileManager.default.temporaryDirectory
        let typo = directory.appendingPathComponent("typo-\(UUID()).yaml")
        try "job: a\nconsumer:\n  concurency: 3\n".write(to: typo, atomically: true, encoding: .utf8)
        let unknown = #expect(throws: BlobferryError.self) {
            try SettingsLoader.load(configPath: typo.path, environment: [:])
        }
        #expect(unknown?.message.contains("consumer.concurency") == true)

        let wrongType = directory.appendingPathComponent("type-\(UUID()).yaml")
        try "consumer:\n  concurrency: many\n".write(to: wrongType, atomically: true, encoding: .utf8)
        let mistyped = #expect(throws: BlobferryError.self) {
            try SettingsLoader.load(configPath: wrongType.path, environment: [:])
        }
        #expect(mistyped?.message.contains("consumer.concurrency") == true)
    }

    @Test func developmentStorageShortcutAndPartitionListsFromYAML() throws {
        let settings = try SettingsLoader.load(
            configPath: nil, environment: ["AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"])
        #expect(settings.sourceEndpoint == "http://127.0.0.1:10000/devstoreaccount1")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("list-\(UUID()).yaml")
        try "producer:\n  partitions: [\"img/\", \"logs/\"]\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(try SettingsLoader.load(configPath: file.path, environment: [:]).producer.partitions == "img/,logs/")
    }

    /// One place per setting: paths and variables are unique, and the example config
    /// lists every setting with its variable on the same line.
    @Test func everySettingIsDescribedOnceAndListedInTheExample() throws {
        let descriptors = SettingDescriptor.all
        #expect(Set(descriptors.map(\.path)).count == descriptors.count)
        let variables = descriptors.flatMap(\.variables)
        #expect(Set(variables).count == variables.count)
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/blobferry.example.yaml").path
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        for descriptor in descriptors {
            let name = String(descriptor.path.split(separator: ".").last ?? "")
            let line = lines.first { $0.contains("[\(descriptor.variables[0])]") }
            #expect(line?.contains("\(name):") == true, "\(descriptor.path) is not in the example config")
        }
    }

    /// Issue 8.12: broken YAML is reported by position, never by echoing the line (a
    /// password may sit on it).
    @Test func brokenYAMLNamesThePositionNotTheLine() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID()).yaml")
        try "redis:\n  url: \"redis://:hunter2secret@db:6379/0\n  nope: [\n".write(
            to: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: BlobferryError.self) {
            try SettingsLoader.load(configPath: file.path, environment: [:])
        }
        #expect(error?.message.contains("line") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("hunter2secret") == false, "\(error?.message ?? "")")
    }

    @Test func aBadNumberNamesItsVariable() throws {
        var environment = Self.complete
        environment["BLOBFERRY_REDIS_OUTAGE_SECONDS"] = "soon"
        let error = #expect(throws: BlobferryError.self) {
            try SettingsLoader.load(configPath: nil, environment: environment)
        }
        #expect(error?.message == "BLOBFERRY_REDIS_OUTAGE_SECONDS=soon is not a number")
    }

    @Test func keysWithControlCharactersAreEscapedForDisplay() {
        #expect("a\nb\u{1B}[31mc\td".escapedForDisplay == "a\\nb\\u{1b}[31mc\\td")
        #expect("plain/é.txt".escapedForDisplay == "plain/é.txt")
    }
}

/// Every flag of the producer and consumer names exactly one described setting (or is not
/// a setting at all), read from the executables' own `--experimental-dump-help`.
struct SettingFlagTests {
    @Test(arguments: ["blobferry-producer", "blobferry-consumer"])
    func everyFlagMapsToOneSetting(executable: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: MigrationHarness.binary(executable))
        process.arguments = ["--experimental-dump-help"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let command = try #require(json["command"] as? [String: Any])
        let arguments = try #require(command["arguments"] as? [[String: Any]])
        let flags = arguments.compactMap { ($0["names"] as? [[String: Any]])?.compactMap { $0["name"] as? String } }
        let paths = Set(SettingDescriptor.all.map(\.path))
        var seen: [String: String] = [:]
        for names in flags where !names.contains(where: SettingFlags.notSettings.contains) {
            let path = try #require(
                names.lazy.compactMap { SettingFlags.paths[$0] }.first, "flag \(names) names no setting")
            #expect(paths.contains(path), "flag \(names) maps to \(path), which no descriptor describes")
            #expect(seen[path] == nil, "\(path) has two flags")
            seen[path] = names[0]
        }
        #expect(Set(SettingFlags.paths.values).isSubset(of: paths))
    }
}
