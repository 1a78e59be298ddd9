import BlobferryRedis
import Foundation
import Logging
import Synchronization

/// What an operator set on a running job without restarting anything: a pause, and live
/// limits that override the settings while they are set. Kept in the job's `meta` hash
/// (fields `paused`, `limit_*`), so `HGETALL meta` shows the whole job's state and every
/// process reads it with one `HMGET`.
public struct JobControl: Sendable, Equatable {
    public var paused = false
    /// Copies in flight per consumer, at most (caps the adaptive concurrency).
    public var concurrency: Int?
    /// Requests per second to Azure, all processes together (the shared token bucket).
    public var sourceRequestsPerSecond: Double?
    /// Requests per second to S3, all processes together.
    public var destinationRequestsPerSecond: Double?
    /// Bytes per second read from the source, per consumer.
    public var bandwidth: Int?

    public init(
        paused: Bool = false, concurrency: Int? = nil, sourceRequestsPerSecond: Double? = nil,
        destinationRequestsPerSecond: Double? = nil, bandwidth: Int? = nil
    ) {
        self.paused = paused
        self.concurrency = concurrency
        self.sourceRequestsPerSecond = sourceRequestsPerSecond
        self.destinationRequestsPerSecond = destinationRequestsPerSecond
        self.bandwidth = bandwidth
    }

    /// The `meta` fields, in the order `init(values:)` reads them.
    static let fields = [
        "paused", "limit_concurrency", "limit_source_requests_per_second", "limit_destination_requests_per_second",
        "limit_bandwidth",
    ]
    /// The limit fields alone (what `--clear` deletes).
    static var limitFields: ArraySlice<String> { fields.dropFirst() }

    /// Values no process could follow (a hand edit with redis-cli: 0, a negative number,
    /// `inf`, 1e300) read as not set, so the settings apply instead of a wedge or a trap.
    init(values: [String?]) {
        func value(_ index: Int) -> String? { values.count > index ? values[index] : nil }
        func rate(_ text: String?) -> Double? {
            text.flatMap(Double.init).flatMap { $0 > 0 && $0 <= Self.maximumRate ? $0 : nil }
        }
        paused = value(0) == "1"
        concurrency = value(1).flatMap { Int($0) }.flatMap { $0 >= 1 ? $0 : nil }
        sourceRequestsPerSecond = rate(value(2))
        destinationRequestsPerSecond = rate(value(3))
        bandwidth = value(4).flatMap { Int($0) }.flatMap { $0 >= 1 ? $0 : nil }
    }

    /// Far above any account's limit, and small enough for integer token arithmetic.
    static let maximumRate = 1e9

    /// From the whole `meta` hash (what `status` already read).
    init(meta: [String: String]) { self.init(values: Self.fields.map { meta[$0] }) }

    /// Whether any live limit is set.
    public var hasLimits: Bool {
        concurrency != nil || sourceRequestsPerSecond != nil || destinationRequestsPerSecond != nil
            || bandwidth != nil
    }

    /// `concurrency 8, source 100 req/s, ...` for `status` and the commands' answers.
    public var limitsText: String {
        var parts: [String] = []
        if let concurrency { parts.append("concurrency \(concurrency)") }
        if let rate = sourceRequestsPerSecond { parts.append("source \(rate.formatted()) requests/s") }
        if let rate = destinationRequestsPerSecond { parts.append("destination \(rate.formatted()) requests/s") }
        if let bandwidth { parts.append("bandwidth \(bandwidth) bytes/s per consumer") }
        return parts.isEmpty ? "none (settings apply)" : parts.joined(separator: ", ")
    }
}

/// Live limits to set with `blobferry limits`; nil leaves a limit as it is.
public struct LimitChange: Sendable {
    public var concurrency: Int?
    public var sourceRequestsPerSecond: Double?
    public var destinationRequestsPerSecond: Double?
    public var bandwidth: Int?

    public init(
        concurrency: Int? = nil, sourceRequestsPerSecond: Double? = nil, destinationRequestsPerSecond: Double? = nil,
        bandwidth: Int? = nil
    ) {
        self.concurrency = concurrency
        self.sourceRequestsPerSecond = sourceRequestsPerSecond
        self.destinationRequestsPerSecond = destinationRequestsPerSecond
        self.bandwidth = bandwidth
    }

    /// Refuses values no process could follow (one line, exit 2).
    func validated() throws -> [(String, String)] {
        var fields: [(String, String)] = []
        if let concurrency {
            guard concurrency >= 1 else { throw BlobferryError(.configuration, "--concurrency must be at least 1") }
            fields.append(("limit_concurrency", String(concurrency)))
        }
        if let rate = sourceRequestsPerSecond {
            guard rate > 0, rate <= JobControl.maximumRate else {
                throw BlobferryError(.configuration, "--source-requests-per-second must be above 0, at most 1e9")
            }
            fields.append(("limit_source_requests_per_second", String(rate)))
        }
        if let rate = destinationRequestsPerSecond {
            guard rate > 0, rate <= JobControl.maximumRate else {
                throw BlobferryError(.configuration, "--destination-requests-per-second must be above 0, at most 1e9")
            }
            fields.append(("limit_destination_requests_per_second", String(rate)))
        }
        if let bandwidth {
            guard bandwidth >= 1 else { throw BlobferryError(.configuration, "--bandwidth must be at least 1") }
            fields.append(("limit_bandwidth", String(bandwidth)))
        }
        return fields
    }
}

extension JobStore {
    /// The job's pause and live limits, in one round trip.
    public func control() async throws -> JobControl {
        let key = keys.meta
        let fields = JobControl.fields.map { RedisArgument($0) }
        return try await runIdempotent { connection in
            let values = try connection.send(["HMGET", RedisArgument(key)] + fields).decodeArray("HMGET meta")
            return JobControl(values: try values.map { try $0.decodeOptionalString("HMGET meta") })
        }
    }

    /// Pauses (or resumes) every process of the job: consumers finish the copies in flight
    /// and stop claiming, the producer stops between pages. Refuses a job that does not exist.
    public func setPaused(_ paused: Bool) async throws {
        let key = keys.meta
        try await requireJob()
        let now = ISO8601DateFormatter().string(from: Date())
        _ = try await runIdempotent { connection in
            paused
                ? try connection.send("HSET", RedisArgument(key), "paused", "1", "paused_at", RedisArgument(now))
                : try connection.send("HSET", RedisArgument(key), "paused", "0", "resumed_at", RedisArgument(now))
        }
    }

    /// Sets the given live limits (the others stay as they are), or with `clear` removes
    /// them all so the settings apply again. Returns what is in force afterwards.
    public func setLimits(_ change: LimitChange, clear: Bool) async throws -> JobControl {
        let key = keys.meta
        let fields = try change.validated()
        try await requireJob()
        let now = ISO8601DateFormatter().string(from: Date())
        _ = try await runIdempotent { connection in
            var commands: [[RedisArgument]] = []
            if clear {
                commands.append(["HDEL", RedisArgument(key)] + JobControl.limitFields.map { RedisArgument($0) })
            }
            let pairs = fields + [("limits_changed", now)]
            commands.append(
                ["HSET", RedisArgument(key)] + pairs.flatMap { [RedisArgument($0.0), RedisArgument($0.1)] })
            return try connection.pipelineOrThrow(commands).count
        }
        return try await control()
    }

    private func requireJob() async throws { _ = try await existingMetaFields() }
}

/// The control state one process follows: read from Redis every `interval` seconds by
/// `watch` (one `HMGET` per interval, whatever the copy rate), read locally by the copy
/// loop, the rate limits and the bandwidth limit at no Redis cost.
public final class LiveControl: Sendable {
    private let state = Mutex(JobControl())
    /// How often running processes read the control fields: a pause or a limit takes
    /// effect within this, at one `HMGET` per process per interval.
    static let pollSeconds = 1.0

    public init(_ initial: JobControl = JobControl()) { state.withLock { $0 = initial } }

    public var current: JobControl { state.withLock { $0 } }
    var isPaused: Bool { state.withLock { $0.paused } }

    func update(_ control: JobControl) { state.withLock { $0 = control } }

    /// Polls until cancelled; logs each change. A failed read keeps what was known.
    func watch(store: JobStore, interval: Double, logger: Logger) async {
        while !Task.isCancelled {
            do {
                let latest = try await store.control()
                let before = current
                if latest != before {
                    update(latest)
                    if latest.paused != before.paused {
                        logger.info(latest.paused ? "job paused (blobferry resume continues)" : "job resumed")
                    }
                    if latest.limitsText != before.limitsText {
                        logger.info("live limits: \(latest.limitsText)")
                    }
                }
            } catch {
                logger.warning("reading the job's pause and live limits failed: \(error)")
            }
            try? await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
        }
    }
}
