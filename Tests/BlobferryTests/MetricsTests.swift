import BlobferryHTTP
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// Issue 12, items 1 and 2: `/metrics` of a running consumer and producer, and the
/// exporter's gauges against `status --json`, with the real executables and services.
@Suite(.serialized)
struct MetricsTests {
    /// One scrape, parsed to `series -> value` (`name{labels}` as printed).
    static func scrape(_ harness: MigrationHarness, port: Int) async throws -> (text: String, values: [String: Double])
    {
        let response = try await harness.http.execute(
            HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/metrics", timeout: 10))
        let text = String(decoding: response.body, as: UTF8.self)
        guard response.status == 200 else { throw HarnessError("scrape answered \(response.status): \(text)") }
        #expect(response.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw HarnessError("not a sample line: \(line)")
            }
            values[String(line[..<space])] = value
        }
        return (text, values)
    }

    @Test func aRunningConsumersCopiedCounterRises() async throws {
        let harness = try await MigrationHarness(name: "metrics")
        let expected = try await harness.seed((0..<150).map { "m\($0 % 7)/blob-\($0)" })
        let port = try LoopbackPort.free()
        // The consumer starts first and waits for the job, so the first scrape sees nothing copied.
        let consumer = try harness.start(
            "blobferry-consumer", ["--wait-for-more", "--metrics-address", "127.0.0.1:\(port)"], label: "consumer",
            environment: ["BLOBFERRY_CONCURRENCY": "4"])
        try LoopbackPort.waitUntilOpen(port)
        let first = try await Self.scrape(harness, port: port)
        let before = first.values["blobferry_objects_copied_total"] ?? 0
        #expect(before == 0)

        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        var last = first
        try await harness.waitUntil("the consumer's counter reaches \(expected.count)") {
            last = try await Self.scrape(harness, port: port)
            return last.values["blobferry_objects_copied_total"] == Double(expected.count)
        }
        let after = try #require(last.values["blobferry_objects_copied_total"])
        #expect(after > before)
        let bytes = expected.values.reduce(0) { $0 + $1.count }
        #expect(last.values["blobferry_bytes_copied_total"] == Double(bytes))
        #expect(last.values["blobferry_copies_in_flight"] == 0)
        #expect(last.values["blobferry_objects_failed_total"] == 0)
        // Requests of every service, by status class, with latency histograms.
        for service in ["azure", "s3"] {
            let series = "{service=\"\(service)\",status_class=\"2xx\"}"
            #expect((last.values["blobferry_requests_total\(series)"] ?? 0) >= Double(expected.count), "\(last.text)")
            #expect(
                last.values["blobferry_request_duration_seconds_count\(series)"]
                    == last.values["blobferry_requests_total\(series)"])
        }
        #expect((last.values["blobferry_requests_total{service=\"redis\",status_class=\"ok\"}"] ?? 0) > 0)
        #expect(last.text.contains("# TYPE blobferry_request_duration_seconds histogram"))
        #expect(last.text.contains("# TYPE blobferry_objects_copied_total counter"))

        consumer.stop()
        #expect(try await consumer.exitStatus(timeout: 60) == 0)
        #expect(try await harness.mismatches(expected) == [])
    }

    @Test func theProducerCountsPagesAndKeysPerPartition() async throws {
        let harness = try await MigrationHarness(name: "metrics-producer")
        _ = try await harness.seed((0..<40).map { "A\($0)" } + (0..<25).map { "b\($0)" })
        let port = try LoopbackPort.free()
        // Pages of 10 and a tight back-pressure bound keep the producer running long enough
        // to scrape; with no consumer it waits on the full queues until stopped.
        let producer = try harness.start(
            "blobferry-producer", ["--metrics-address", "127.0.0.1:\(port)", "--max-queued-per-partition", "20"],
            label: "producer", environment: ["BLOBFERRY_PAGE_SIZE": "10"])
        try LoopbackPort.waitUntilOpen(port)
        var last = try await Self.scrape(harness, port: port)
        try await harness.waitUntil("partition A's listing reaches its bound") {
            last = try await Self.scrape(harness, port: port)
            return (last.values["blobferry_keys_listed_total{partition=\"A\"}"] ?? 0) >= 20
                && (last.values["blobferry_keys_listed_total{partition=\"b\"}"] ?? 0) >= 20
        }
        #expect((last.values["blobferry_list_pages_total{partition=\"A\"}"] ?? 0) >= 2, "\(last.text)")
        #expect((last.values["blobferry_requests_total{service=\"azure\",status_class=\"2xx\"}"] ?? 0) > 0)
        producer.stop()
        #expect(try await producer.exitStatus(timeout: 60) == 0)
    }

    @Test func theExportersGaugesEqualStatusJSON() async throws {
        let harness = try await MigrationHarness(name: "exporter")
        let expected = try await harness.seed((0..<300).map { "\(["A", "b", "7", "_"][$0 % 4])x/\($0)" })
        let port = try LoopbackPort.free()
        let exporter = try harness.start("blobferry", ["exporter", "--listen", "127.0.0.1:\(port)"], label: "exporter")
        try LoopbackPort.waitUntilOpen(port)

        let producer = try harness.start("blobferry-producer", label: "producer")
        let consumers = try (1...2).map {
            try harness.start(
                "blobferry-consumer", label: "consumer-\($0)", environment: ["BLOBFERRY_CONCURRENCY": "4"])
        }
        // Scrapes during the run answer, with a job label on every gauge.
        try await harness.waitUntil("the exporter sees copies") {
            // Before the producer creates the job the exporter answers 503; that is fine.
            guard let during = try? await Self.scrape(harness, port: port) else { return false }
            return (during.values["blobferry_job_copied{job=\"\(harness.job)\"}"] ?? 0) > 0
        }
        #expect(try await producer.exitStatus(timeout: 120) == 0)
        for consumer in consumers { #expect(try await consumer.exitStatus(timeout: 120) == 0) }

        let status = try await harness.status()
        let end = try await Self.scrape(harness, port: port)
        let job = "{job=\"\(harness.job)\"}"
        let gauges: [(String, Int)] = [
            ("listed", status.listed), ("queued", status.queued), ("in_flight", status.inflight),
            ("copied", status.copied), ("bytes", status.bytes), ("failed", status.failed),
            ("vanished", status.vanished), ("consumers", status.consumers), ("complete", status.complete ? 1 : 0),
            ("deleted_in_source", status.deletedInSource),
        ]
        for (name, value) in gauges {
            #expect(end.values["blobferry_job_\(name)\(job)"] == Double(value), "blobferry_job_\(name)\n\(end.text)")
        }
        #expect(status.copied == expected.count && status.complete)
        for partition in status.partitions {
            let series = "blobferry_job_partition_queued{job=\"\(harness.job)\",partition=\"\(partition.name)\"}"
            #expect(end.values[series] == Double(partition.queued), "\(series)")
        }
        exporter.stop()
        #expect(try await exporter.exitStatus(timeout: 30) == 0)
    }

    @Test func exporterWithoutAnAddressExits2() async throws {
        let harness = try await MigrationHarness(name: "exporter-bad")
        let result = try await harness.run("blobferry", ["exporter"], label: "exporter")
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains("--listen"))
        let bad = try await harness.run("blobferry", ["exporter", "--listen", "nowhere"], label: "exporter-bad")
        #expect(bad.status == 2, "\(bad.output)")
    }

    @Test func listenAddressesAndTheTextFormat() {
        #expect(ListenAddress(parsing: "0.0.0.0:9400") == ListenAddress(parsing: ":9400"))
        #expect(ListenAddress(parsing: "localhost:80")?.host == "127.0.0.1")
        #expect(ListenAddress(parsing: "9400") == nil)
        #expect(ListenAddress(parsing: "host:99999") == nil)
        let metrics = Metrics()
        metrics.add("blobferry_keys_listed_total", [("partition", "a\"b")], 3)
        metrics.request(service: "s3", status: 503, seconds: 0.2)
        let text = metrics.render()
        #expect(text.contains("blobferry_keys_listed_total{partition=\"a\\\"b\"} 3\n"))
        #expect(text.contains("blobferry_throttled_responses_total{service=\"s3\"} 1\n"))
        #expect(
            text.contains(
                "blobferry_request_duration_seconds_bucket{service=\"s3\",status_class=\"5xx\",le=\"0.25\"} 1\n"))
        #expect(
            text.contains(
                "blobferry_request_duration_seconds_bucket{service=\"s3\",status_class=\"5xx\",le=\"0.1\"} 0\n"))
    }

    /// Item 4: progress lines every `progress_interval`, and `--log-format json`.
    @Test func progressLinesAsJSON() async throws {
        let harness = try await MigrationHarness(name: "progress-log")
        _ = try await harness.seed((0..<60).map { "p\($0 % 3)/\($0)" })
        let producer = try await harness.run(
            "blobferry-producer", ["--log-format", "json", "--progress-interval", "0.2"], label: "producer")
        #expect(producer.status == 0)
        let consumer = try await harness.run(
            "blobferry-consumer", ["--log-format", "json", "--progress-interval", "0.2"], label: "consumer",
            environment: ["BLOBFERRY_CONCURRENCY": "1"])
        #expect(consumer.status == 0)
        let objects = try consumer.output.split(separator: "\n").filter { $0.hasPrefix("{") }.map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String])
        }
        #expect(objects.allSatisfy { $0["ts"] != nil && $0["level"] != nil && $0["message"] != nil })
        let progress = objects.filter { $0["message"]?.hasPrefix("progress: copied") == true }
        #expect(progress.count >= 2, "\(consumer.output)")
        for key in ["copied", "bytes", "rate_per_second", "in_flight", "failed", "vanished"] {
            #expect(progress.first?[key] != nil, "\(key) missing")
        }
        #expect(progress.compactMap { $0["copied"].flatMap(Int.init) }.max() ?? 0 > 0)
        // Text logs stay the default.
        let text = try await harness.run("blobferry-consumer", ["--progress-interval", "0.2"], label: "consumer-text")
        #expect(text.status == 0)
        #expect(!text.output.contains("{\"label\""), "\(text.output)")
    }

}
