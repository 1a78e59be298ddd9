import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

/// Issue 12.6-12.8: the closing report, the estimate, pause/resume and live limits, each
/// against the real executables, Redis, the emulator and S3.
@Suite(.serialized)
struct OperationsTests {
    // MARK: report

    /// Two failures (a key S3 cannot hold, an archived blob), one vanished blob, two copies:
    /// the report names exactly those keys, with reasons and attempts, in CSV and JSON lines.
    @Test func reportListsEveryFailedAndVanishedKeyWithTotals() async throws {
        let harness = try await MigrationHarness(name: "report")
        let tooLong = String(repeating: "é", count: 600)
        try await harness.seed(["ok/1", "ok/2", "gone/1", "cold/1", tooLong])
        try await harness.azure.setTier("cold/1", "Archive")
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        try await harness.azure.deleteBlob("gone/1")
        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)

        let json = NSTemporaryDirectory() + "report-\(harness.job).jsonl"
        let run = try await harness.run("blobferry", ["report", "--format", "json", "--output", json], label: "rj")
        #expect(run.status == 0 && run.output.contains("2 failed, 1 vanished"), "\(run.output)")
        let records = try String(contentsOfFile: json, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let failed = records.filter { $0["record"] as? String == "failed" }
        let reasons = Dictionary(
            uniqueKeysWithValues: failed.map { ($0["key"] as? String ?? "", $0["reason"] as? String ?? "") })
        #expect(Set(reasons.keys) == ["cold/1", tooLong])
        #expect(reasons["cold/1"] == "archived: rehydrate first")
        #expect(reasons[tooLong]?.hasPrefix("S3 cannot hold this key: 1200 bytes") == true)
        #expect(failed.allSatisfy { $0["attempts"] as? Int == 1 }, "\(failed)")
        #expect(records.filter { $0["record"] as? String == "vanished" }.map { $0["key"] as? String } == ["gone/1"])
        let totals = Dictionary(
            uniqueKeysWithValues: records.filter { $0["record"] as? String == "total" }.map {
                ($0["name"] as? String ?? "", $0["value"] as? Int ?? -1)
            })
        #expect(totals["copied"] == 2 && totals["failed"] == 2 && totals["vanished"] == 1 && totals["listed"] == 5)
        #expect(totals["complete"] == 1)
        let timings = Set(records.filter { $0["record"] as? String == "timing" }.compactMap { $0["name"] as? String })
        #expect(
            timings.isSuperset(of: [
                "started", "listing_finished", "first_copy", "last_copy", "completed", "duration_seconds",
            ]))
        let partitions = records.filter { $0["record"] as? String == "partition" }
        #expect(partitions.count == 63)
        #expect(partitions.first { $0["partition"] as? String == "o" }?["done"] as? Int == 2)

        // CSV: the same records under a header, quoted where a cell needs it.
        let csvPath = NSTemporaryDirectory() + "report-\(harness.job).csv"
        #expect(try await harness.run("blobferry", ["report", "--output", csvPath], label: "rc").status == 0)
        let rows = try CSV.parse(String(contentsOfFile: csvPath, encoding: .utf8))
        #expect(rows.first == JobStore.reportColumns)
        let column = Dictionary(uniqueKeysWithValues: JobStore.reportColumns.enumerated().map { ($1, $0) })
        let failedRows = rows.filter { $0[0] == "failed" }
        #expect(
            Set(failedRows.map { [$0[column["key"]!], $0[column["reason"]!], $0[column["attempts"]!]] })
                == [["cold/1", "archived: rehydrate first", "1"], [tooLong, reasons[tooLong] ?? "", "1"]])
        #expect(rows.filter { $0[0] == "vanished" }.map { $0[column["key"]!] } == ["gone/1"])
        #expect(rows.count == records.count + 1)
    }

    /// Cells with commas, quotes and line breaks survive the CSV form.
    @Test func csvCellsRoundTrip() throws {
        let writer = RecordWriter(format: .csv, columns: ["a", "b", "c"])
        let awkward = "x,\"y\"\nz"
        let text = [writer.header ?? "", writer.line([("a", .text(awkward)), ("c", .integer(7))])].joined(
            separator: "\n")
        #expect(try CSV.parse(text) == [["a", "b", "c"], [awkward, "", "7"]])
        let json = RecordWriter(format: .json, columns: ["a", "b"]).line([("a", .text(awkward)), ("b", .integer(2))])
        #expect(json == #"{"a":"x,\"y\"\nz","b":2}"#)
    }

    /// `verify --report --format csv` writes its differences through the same writer.
    @Test func verifyWritesItsReportAsCSV() async throws {
        let harness = try await MigrationHarness(name: "verify-csv")
        try await harness.seed(["v/1", "v/2"])
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)
        try await harness.s3.deleteObject(key: "v/2")
        let path = NSTemporaryDirectory() + "verify-\(harness.job).csv"
        let run = try await harness.run("blobferry", ["verify", "--report", path, "--format", "csv"], label: "verify")
        #expect(run.status == 1, "\(run.output)")
        #expect(
            try CSV.parse(String(contentsOfFile: path, encoding: .utf8)) == [
                ["kind", "name", "detail"], ["missing", "v/2", "no object in S3"],
            ])
    }

    // MARK: estimate

    /// The prices are settings with documented defaults.
    @Test func pricesAreSettings() throws {
        let defaults = try SettingsLoader.load(configPath: nil, environment: [:]).prices
        #expect(defaults.s3PutPer1k == 0.005 && defaults.egressPerGB == 0.087)
        let set = try SettingsLoader.load(configPath: nil, environment: ["BLOBFERRY_PRICE_EGRESS_PER_GB": "0.02"])
        #expect(set.prices.egressPerGB == 0.02)
    }

    /// Known sizes, a dedicated emulator: exact request counts and bytes, and the reads the
    /// consumer then really sends equal the estimate's.
    @Test func estimateCountsTheRequestsAndBytesOfAKnownContainer() async throws {
        let emulator = try AzureEmulatorProcess()
        let harness = try await MigrationHarness(name: "estimate", emulator: emulator)
        // First read 256 KiB (32 MiB budget / 4 / 32 copies), multipart above 5 MiB, 5 MiB parts.
        let environment = [
            "BLOBFERRY_MEMORY_BUDGET": String(32 << 20), "BLOBFERRY_MULTIPART_THRESHOLD": String(5 << 20),
            "BLOBFERRY_PART_SIZE": String(5 << 20), "BLOBFERRY_PARTITIONS": "e/",
        ]
        let sizes = [0, 100, 5000, 300_000, (6 << 20) + 1]
        let names = sizes.indices.map { "e/\($0)" }
        let expected = try await harness.seed(names) { sizes[$0] }
        #expect(try await harness.run("blobferry-producer", label: "producer", environment: environment).status == 0)
        let result = try await harness.run("blobferry", ["estimate", "--format", "json"], label: "estimate")
        #expect(result.status == 0, "\(result.output)")
        let line = try #require(result.output.split(separator: "\n").first { $0.hasPrefix("{") })
        let estimate = try JSONDecoder().decode(MigrationEstimate.self, from: Data(line.utf8))
        #expect(estimate.listingComplete && estimate.keys == 5 && estimate.bytes == sizes.reduce(0, +))
        #expect(estimate.azureListOperations == 3, "one page for e/, one for each gap of _other around it")
        // Every blob one first read; the empty one and the 300 KB one a second; 2 parts.
        #expect(estimate.azureReadOperations == 5 + 2 + 2)
        #expect(estimate.s3Puts == 4 && estimate.s3MultipartUploads == 1 && estimate.s3Parts == 2)
        #expect(estimate.s3Requests == 4 + 1 + 2 + 1)
        #expect(estimate.redisDoneBytes == names.reduce(0) { $0 + $1.utf8.count } + 5 * 52)
        let prices = PriceSettings()
        let cost =
            3.0 / 10_000 * prices.azureListPer10k + 9.0 / 10_000 * prices.azureReadPer10k
            + Double(estimate.bytes) / 1e9 * prices.egressPerGB + 8.0 / 1000 * prices.s3PutPer1k
        #expect(abs(estimate.costTotal - cost) < 1e-12)
        #expect(estimate.secondsAllAtRate == nil, "nothing copied yet")

        let before = try emulator.stats()["by_operation"] as? [String: Int] ?? [:]
        #expect(try await harness.run("blobferry-consumer", label: "consumer", environment: environment).status == 0)
        let after = try emulator.stats()["by_operation"] as? [String: Int] ?? [:]
        #expect((after["GetBlob"] ?? 0) - (before["GetBlob"] ?? 0) == estimate.azureReadOperations)
        #expect(try await harness.mismatches(expected) == [])
        let timed = try await harness.run("blobferry", ["estimate"], label: "estimate-2")
        #expect(
            timed.status == 0 && timed.output.contains("time at") && timed.output.contains("all "), "\(timed.output)")
    }

    // MARK: pause and resume

    /// A running consumer stops claiming within seconds of `pause`: the queue stays put, its
    /// copies in flight drain, it keeps its lease; `resume` finishes the job.
    @Test func pauseStopsAConsumerAndResumeFinishesTheJob() async throws {
        let emulator = try AzureEmulatorProcess(latencyMs: 150)
        let harness = try await MigrationHarness(name: "pause", emulator: emulator)
        let expected = try await harness.seed((0..<600).map { "p/\($0)" })
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        let consumer = try harness.start(
            "blobferry-consumer", label: "consumer", environment: ["BLOBFERRY_CONCURRENCY": "8"])
        try await harness.waitUntil("the consumer copies") { try await harness.status().copied > 0 }
        #expect(try await harness.run("blobferry", ["pause"], label: "pause").status == 0)
        let paused = Date()
        try await harness.waitUntil("the consumer pauses", timeout: 10) {
            harness.log("consumer").contains("paused: finishing")
        }
        try await harness.waitUntil("nothing is in flight", timeout: 15) { try await harness.status().inflight == 0 }
        print("pause: in flight drained \(String(format: "%.1f", Date().timeIntervalSince(paused))) s after pause")
        let first = try await harness.status()
        #expect(first.paused && first.queued > 0 && first.copied < expected.count)
        #expect(first.prometheusGauges().contains("blobferry_job_paused{job=\"\(harness.job)\"} 1"))
        // Longer than the 3 s lease: still registered, nothing claimed, nothing copied.
        try await Task.sleep(nanoseconds: 4_000_000_000)
        let later = try await harness.status()
        #expect(later.queued == first.queued && later.copied == first.copied && later.inflight == 0)
        #expect(later.consumers == 1)
        let text = try await harness.run("blobferry", ["status"], label: "status-text")
        #expect(text.output.contains("PAUSED"), "\(text.output)")

        #expect(try await harness.run("blobferry", ["resume"], label: "resume").status == 0)
        #expect(try await consumer.exitStatus(timeout: 120) == 0)
        let done = try await harness.status()
        #expect(done.complete && !done.paused && done.copied == expected.count)
        #expect(try await harness.mismatches(expected) == [])
    }

    /// A paused job's producer lists no further page until `resume`.
    @Test func pauseStopsTheProducerBetweenPages() async throws {
        let emulator = try AzureEmulatorProcess(latencyMs: 100, maxPage: 5)
        let harness = try await MigrationHarness(name: "pause-producer", emulator: emulator)
        try await harness.seed((0..<300).map { "q/\($0)" })
        let producer = try harness.start(
            "blobferry-producer", label: "producer", environment: ["BLOBFERRY_PARTITIONS": "q/"])
        try await harness.waitUntil("the producer lists") { try await harness.status().listed > 0 }
        #expect(try await harness.run("blobferry", ["pause"], label: "pause").status == 0)
        try await Task.sleep(nanoseconds: 2_500_000_000)
        let first = try await harness.status()
        try await Task.sleep(nanoseconds: 3_000_000_000)
        let later = try await harness.status()
        #expect(later.listed == first.listed && later.listed < 300 && later.producer == .listing, "\(later)")
        #expect(try await harness.run("blobferry", ["resume"], label: "resume").status == 0)
        #expect(try await producer.exitStatus(timeout: 120) == 0)
        #expect(try await harness.status().listed == 300)
    }

    // MARK: live limits

    /// A live bandwidth limit paces a consumer configured without one, and clearing it
    /// stops the pacing.
    @Test func aLiveBandwidthLimitPacesReads() async throws {
        let control = LiveControl()
        let rate = ByteRate(bytesPerSecond: 0, control: control)
        var started = Date()
        for _ in 0..<4 { try await rate.pay(100_000) }
        #expect(Date().timeIntervalSince(started) < 0.2, "no limit set: no pacing")
        control.update(JobControl(bandwidth: 100_000))
        started = Date()
        for _ in 0..<2 { try await rate.pay(50_000) }  // an empty bucket: 0.5 s of debt each
        #expect(Date().timeIntervalSince(started) >= 0.8)
    }

    /// `limits --concurrency` reaches a running consumer within seconds (the emulator's
    /// requests in progress drop to the cap), `--source-requests-per-second` paces it, and
    /// `status` shows both until `--clear`.
    @Test func liveLimitsReachARunningConsumer() async throws {
        let emulator = try AzureEmulatorProcess(latencyMs: 150)
        let harness = try await MigrationHarness(name: "limits", emulator: emulator)
        let expected = try await harness.seed((0..<600).map { "l/\($0)" })
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        let consumer = try harness.start(
            "blobferry-consumer", label: "consumer", environment: ["BLOBFERRY_CONCURRENCY": "16"])
        func inProgress() throws -> Int {
            (try emulator.stats()["in_progress_by_client"] as? [String: Int] ?? [:]).values.reduce(0, +)
        }
        try await harness.waitUntil("16 copies run", timeout: 60) { try inProgress() >= 10 }
        let set = try await harness.run("blobferry", ["limits", "--concurrency", "2"], label: "limit-concurrency")
        #expect(set.status == 0 && set.output.contains("concurrency 2"), "\(set.output)")
        let started = Date()
        try await harness.waitUntil("the consumer takes the cap", timeout: 10) {
            harness.log("consumer").contains("live limits: concurrency 2")
        }
        print(
            "limits: concurrency cap taken \(String(format: "%.1f", Date().timeIntervalSince(started))) s after it was set"
        )
        try await Task.sleep(nanoseconds: 1_000_000_000)  // the copies already running finish
        var highest = 0
        for _ in 0..<20 {
            highest = max(highest, try inProgress())
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect(highest <= 2, "\(highest) requests in progress under a cap of 2")
        #expect(try await harness.status().limits.concurrency == 2)

        #expect(
            try await harness.run(
                "blobferry", ["limits", "--clear", "--source-requests-per-second", "10"], label: "limit-rate"
            ).status == 0)
        try await harness.waitUntil("the consumer takes the rate", timeout: 10) {
            harness.log("consumer").contains("source 10 requests/s")
        }
        try await Task.sleep(nanoseconds: 1_000_000_000)  // the copies started before finish
        let before = try emulator.stats()["requests"] as? Int ?? 0
        let from = Date()
        try await Task.sleep(nanoseconds: 3_000_000_000)
        let rate = Double((try emulator.stats()["requests"] as? Int ?? 0) - before) / Date().timeIntervalSince(from)
        print("limits: \(String(format: "%.1f", rate)) Azure requests/s under a live limit of 10/s")
        #expect(rate <= 10 * 1.2 + 1, "\(rate)/s under a limit of 10/s")
        let limited = try await harness.status()
        #expect(limited.limits.concurrency == nil && limited.limits.sourceRequestsPerSecond == 10)

        #expect(try await harness.run("blobferry", ["limits", "--clear"], label: "limit-clear").status == 0)
        #expect(try await consumer.exitStatus(timeout: 180) == 0)
        let done = try await harness.status()
        #expect(done.complete && done.limits == JobStatus.Limits())
        #expect(try await harness.mismatches(expected) == [])
    }
}

/// A small RFC 4180 reader for the tests (quoted cells, doubled quotes, line breaks).
enum CSV {
    struct Malformed: Error {}

    static func parse(_ text: String) throws -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var cell = ""
        var quoted = false
        var characters = Array(text).makeIterator()
        var pending: Character? = nil
        while let character = pending ?? characters.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    let next = characters.next()
                    if next == "\"" { cell.append("\"") } else { quoted = false; pending = next }
                } else {
                    cell.append(character)
                }
            } else if character == "\"" {
                guard cell.isEmpty else { throw Malformed() }
                quoted = true
            } else if character == "," {
                row.append(cell)
                cell = ""
            } else if character == "\n" {
                row.append(cell)
                rows.append(row)
                row = []
                cell = ""
            } else {
                cell.append(character)
            }
        }
        if quoted { throw Malformed() }
        if !cell.isEmpty || !row.isEmpty {
            row.append(cell)
            rows.append(row)
        }
        return rows
    }
}

/// Live limits written by hand with redis-cli that no process could follow read as not set.
@Test func handEditedLimitsThatNoProcessCouldFollowAreIgnored() {
    let wild = JobControl(values: ["1", "0", "inf", "1e300", "-5"])
    #expect(wild.paused)
    #expect(wild.concurrency == nil && wild.bandwidth == nil)
    #expect(wild.sourceRequestsPerSecond == nil && wild.destinationRequestsPerSecond == nil)
    let sane = JobControl(values: ["0", "8", "2000", "3000.5", "1000000"])
    #expect(!sane.paused && sane.concurrency == 8 && sane.bandwidth == 1_000_000)
    #expect(sane.sourceRequestsPerSecond == 2000 && sane.destinationRequestsPerSecond == 3000.5)
}
