import Foundation
import Synchronization

/// One process's counters, gauges and histograms, rendered in the Prometheus text format
/// at `/metrics` (`--metrics-address`).
///
/// Why a process-wide registry rather than an object handed down: requests are counted in
/// the signed-request executor, retries in `RetryPolicy`, copies in `ProgressCounters` and
/// listing in the producer; a shared registry lets each place add one line instead of
/// threading a parameter through every client and the copy loop (which others change
/// often). Every series a process can emit is described in `Metrics.descriptions`, so the
/// names follow Prometheus conventions in one place (`_total` counters, `_seconds`
/// histograms, base units).
public final class Metrics: Sendable {
    /// The registry of this process.
    public static let process = Metrics()

    /// Prometheus metric types.
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    /// Labels of one series, in the order they are printed.
    public typealias Labels = [(String, String)]

    /// Upper bounds (seconds) of the request latency histogram buckets.
    public static let latencyBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    /// Every metric a blobferry process emits: name -> (type, help).
    public static let descriptions: [String: (kind: Kind, help: String)] = [
        "blobferry_objects_copied_total": (.counter, "Blobs copied to S3 by this process."),
        "blobferry_bytes_copied_total": (.counter, "Bytes copied to S3 by this process."),
        "blobferry_objects_failed_total": (.counter, "Copies that ended in failure in this process."),
        "blobferry_objects_vanished_total": (.counter, "Blobs that were gone from Azure when copied."),
        "blobferry_copies_in_flight": (.gauge, "Copies running in this process now."),
        "blobferry_request_pace_per_second": (
            .gauge, "Requests per second this process allowed itself to a service at its last throttling answer."
        ),
        "blobferry_requests_total": (.counter, "Requests sent, by service and status class."),
        "blobferry_request_duration_seconds": (.histogram, "Request latency, by service and status class."),
        "blobferry_retries_total": (.counter, "Requests retried after a transient error, by service."),
        "blobferry_throttled_responses_total": (.counter, "Throttling answers (429, 503), by service."),
        "blobferry_keys_listed_total": (.counter, "Keys listed by the producer, by partition."),
        "blobferry_keys_enqueued_total": (.counter, "Keys the producer queued, by partition."),
        "blobferry_keys_filtered_total": (
            .counter, "Listed names the include/exclude/modified filter left out, by partition."
        ),
        "blobferry_list_pages_total": (.counter, "List Blobs pages the producer read, by partition."),
    ]

    private struct SeriesKey: Hashable {
        var name: String
        var labels: [String]  // name, value, name, value...
    }

    private struct Histogram {
        var buckets: [Int]
        var count = 0
        var sum = 0.0
    }

    private struct State {
        var values: [SeriesKey: Double] = [:]
        var histograms: [SeriesKey: Histogram] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    private static func key(_ name: String, _ labels: Labels) -> SeriesKey {
        SeriesKey(name: name, labels: labels.flatMap { [$0.0, $0.1] })
    }

    /// Adds `value` to a counter (or a gauge: negative values lower it).
    public func add(_ name: String, _ labels: Labels = [], _ value: Double = 1) {
        let key = Self.key(name, labels)
        state.withLock { $0.values[key, default: 0] += value }
    }

    /// Sets a gauge.
    public func set(_ name: String, _ labels: Labels = [], _ value: Double) {
        let key = Self.key(name, labels)
        state.withLock { $0.values[key] = value }
    }

    /// Makes series appear at zero before anything happened (a scrape then sees the counter
    /// from the start, and `rate()` sees its first increase).
    public func declare(_ names: [String]) {
        state.withLock { state in
            for name in names where state.values[Self.key(name, [])] == nil { state.values[Self.key(name, [])] = 0 }
        }
    }

    /// Records one observation in a histogram.
    public func observe(_ name: String, _ labels: Labels, seconds: Double) {
        let key = Self.key(name, labels)
        state.withLock { state in
            var histogram =
                state.histograms[key] ?? Histogram(buckets: Array(repeating: 0, count: Self.latencyBuckets.count))
            for (index, bound) in Self.latencyBuckets.enumerated() where seconds <= bound {
                histogram.buckets[index] += 1
            }
            histogram.count += 1
            histogram.sum += seconds
            state.histograms[key] = histogram
        }
    }

    /// One request answered (`status` is the HTTP status, nil for a transport failure).
    public func request(service: String, status: Int?, seconds: Double) {
        let statusClass = status.map { "\($0 / 100)xx" } ?? "error"
        let labels: Labels = [("service", service), ("status_class", statusClass)]
        add("blobferry_requests_total", labels)
        observe("blobferry_request_duration_seconds", labels, seconds: seconds)
        if status == 429 || status == 503 { add("blobferry_throttled_responses_total", [("service", service)]) }
    }

    /// One call on the Redis connection (a command, a pipeline or a script); its status
    /// class is `ok` or `error`.
    public func redisCall(succeeded: Bool, seconds: Double) {
        let labels: Labels = [("service", "redis"), ("status_class", succeeded ? "ok" : "error")]
        add("blobferry_requests_total", labels)
        observe("blobferry_request_duration_seconds", labels, seconds: seconds)
    }

    /// The value of one series (tests and progress lines).
    public func value(_ name: String, _ labels: Labels = []) -> Double {
        let key = Self.key(name, labels)
        return state.withLock { $0.values[key] ?? 0 }
    }

    /// The Prometheus text exposition format (version 0.0.4) of every series.
    public func render() -> String {
        let (values, histograms) = state.withLock { ($0.values, $0.histograms) }
        var byName: [String: [String]] = [:]
        for (key, value) in values {
            byName[key.name, default: []].append("\(key.name)\(Self.labelText(key.labels)) \(Self.number(value))")
        }
        for (key, histogram) in histograms {
            var lines: [String] = []
            for (index, bound) in Self.latencyBuckets.enumerated() {
                lines.append(
                    "\(key.name)_bucket\(Self.labelText(key.labels + ["le", Self.number(bound)])) \(histogram.buckets[index])"
                )
            }
            lines.append("\(key.name)_bucket\(Self.labelText(key.labels + ["le", "+Inf"])) \(histogram.count)")
            lines.append("\(key.name)_sum\(Self.labelText(key.labels)) \(Self.number(histogram.sum))")
            lines.append("\(key.name)_count\(Self.labelText(key.labels)) \(histogram.count)")
            byName[key.name, default: []].append(lines.joined(separator: "\n"))
        }
        return Self.exposition(byName, descriptions: Self.descriptions)
    }

    /// Families in name order, each with its HELP and TYPE lines.
    public static func exposition(_ byName: [String: [String]], descriptions: [String: (kind: Kind, help: String)])
        -> String
    {
        var text = ""
        for name in byName.keys.sorted() {
            if let description = descriptions[name] {
                text += "# HELP \(name) \(description.help)\n# TYPE \(name) \(description.kind.rawValue)\n"
            }
            for series in (byName[name] ?? []).sorted() { text += series + "\n" }
        }
        return text
    }

    /// `{a="1",b="2"}`, label values escaped as the format asks.
    public static func labelText(_ flat: [String]) -> String {
        guard !flat.isEmpty else { return "" }
        var pairs: [String] = []
        var index = 0
        while index + 1 < flat.count {
            let value = flat[index + 1].replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
            pairs.append("\(flat[index])=\"\(value)\"")
            index += 2
        }
        return "{" + pairs.joined(separator: ",") + "}"
    }

    /// Integers without a decimal point; others as Swift prints doubles.
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return String(value)
    }
}
