import Foundation
import Logging
import Synchronization

/// Where and how every logger of the process writes: stderr, as swift-log's text lines or
/// (`log_format: json`) one JSON object per line for log pipelines.
///
/// Why a switch read at each line: swift-log allows one bootstrap per process, done before
/// the command line is parsed, while the format is a setting known only after; the handler
/// therefore asks `LogOutput.format` when it writes.
public enum LogOutput {
    /// `text` or `json`.
    public enum Format: String, Sendable { case text, json }

    private static let current = Atomic<Bool>(false)

    /// The format every handler writes in from now on.
    public static var format: Format {
        get { current.load(ordering: .relaxed) ? .json : .text }
        set { current.store(newValue == .json, ordering: .relaxed) }
    }

    /// The handler the executables bootstrap swift-log with.
    public static func handler(label: String) -> any LogHandler { SwitchingLogHandler(label: label) }
}

/// Text through `StreamLogHandler`, or one JSON object per line (`ts`, `level`, `label`,
/// `message`, then the metadata as strings).
struct SwitchingLogHandler: LogHandler {
    private var text: StreamLogHandler
    let label: String

    init(label: String) {
        self.label = label
        text = StreamLogHandler.standardError(label: label)
    }

    var logLevel: Logger.Level {
        get { text.logLevel }
        set { text.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { text.metadata }
        set { text.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { text[metadataKey: key] }
        set { text[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        guard LogOutput.format == .json else {
            text.log(event: event)
            return
        }
        var object: [String: String] = [:]
        for (key, value) in text.metadata { object[key] = "\(value)" }
        for (key, value) in event.metadata ?? [:] { object[key] = "\(value)" }
        object["ts"] = Date().formatted(.iso8601)
        object["level"] = event.level.rawValue
        object["label"] = label
        object["message"] = "\(event.message)"
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        line.append(0x0A)
        FileHandle.standardError.write(line)
    }
}

/// Logs one progress line every `interval` seconds until cancelled: what `line` returns,
/// with its numbers as metadata (fields of the JSON form).
public enum ProgressLog {
    /// Starts the reporter; nil when `interval` is 0.
    public static func start(
        every interval: Double, logger: Logger,
        line: @escaping @Sendable (_ seconds: Double) -> (String, Logger.Metadata)
    ) -> Task<Void, Never>? {
        guard interval > 0 else { return nil }
        return Task {
            var last = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(interval))
                if Task.isCancelled { return }
                let seconds = last.secondsSince
                last = .now
                let (message, metadata) = line(seconds)
                logger.info("\(message)", metadata: metadata)
            }
        }
    }
}

/// The rate of a growing count between successive progress lines.
public final class IntervalRate: Sendable {
    private let previous = Mutex(0)

    public init() {}

    /// Per second, from the count at the last call (or 0) to `count`.
    public func next(_ count: Int, over seconds: Double) -> Double {
        let before = previous.withLock { value in
            defer { value = count }
            return value
        }
        return Double(count - before) / max(0.001, seconds)
    }
}
