import BlobferryRedis
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 12, item 3: the one-minute rate ring, the ETA it gives, and `status --watch`
/// written to a file (not a terminal): successive snapshots.
@Suite(.serialized)
struct StatusWatchTests {
    @Test func theRateRingGivesALastMinuteRateAndTheETA() async throws {
        let harness = try await MigrationHarness(name: "rate")
        let expected = try await harness.seed((0..<120).map { "r\($0 % 5)/\($0)" })
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        #expect(try await harness.run("blobferry-consumer", label: "consumer").status == 0)
        let status = try await harness.status()
        #expect(status.copied == expected.count && status.complete)
        // Every copy happened in the last minute: the window is 55 to 60 s long.
        let low = (Double(expected.count) / 60 * 10).rounded(.down) / 10 - 0.1
        let high = Double(expected.count) / 55 + 0.1
        #expect(status.ratePerSecond1m >= low && status.ratePerSecond1m <= high, "\(status.ratePerSecond1m)")
        #expect(status.etaSeconds == 0)
        // The ring: a few 5-second slots that add up to what was copied.
        let redis = try RedisConnection(configuration: try RedisConfiguration(url: harness.redis.url))
        let ring = try redis.send("HGETALL", RedisArgument(JobKeys(job: harness.job).copyRate))
            .decodeHash("HGETALL rate")
        #expect(!ring.isEmpty && ring.count <= 15)
        #expect(ring.values.compactMap { Int($0) }.reduce(0, +) == expected.count)
        let text = try await harness.run("blobferry", ["status"], label: "status-text")
        #expect(text.output.contains("objects/s over the last minute"), "\(text.output)")
    }

    @Test func whileListingTheETAIsUnknownAndSaysSo() async throws {
        let harness = try await MigrationHarness(name: "eta-listing")
        _ = try await harness.seed((0..<60).map { "A\($0)" })
        // No consumer and a bound of 10 keep the producer listing.
        let producer = try harness.start(
            "blobferry-producer", ["--max-queued-per-partition", "10"], label: "producer",
            environment: ["BLOBFERRY_PAGE_SIZE": "10"])
        try await harness.waitUntil("the producer lists") {
            let status = try? await harness.status()
            return status?.producer == .listing && (status?.listed ?? 0) > 0
        }
        let status = try await harness.status()
        #expect(status.etaSeconds == nil)
        let text = try await harness.run("blobferry", ["status"], label: "status-text")
        #expect(text.output.contains("listing: "), "\(text.output)")
        #expect(text.output.contains("listed so far"), "\(text.output)")
        producer.stop()
        #expect(try await producer.exitStatus(timeout: 60) == 0)
    }

    @Test func watchWithoutATerminalPrintsSuccessiveSnapshots() async throws {
        let harness = try await MigrationHarness(name: "watch")
        _ = try await harness.seed((0..<80).map { "w\($0 % 3)/\($0)" })
        let watch = try harness.start("blobferry", ["status", "--watch", "--interval", "0.3"], label: "watch")
        let watchJSON = try harness.start(
            "blobferry", ["status", "--watch", "--json", "--interval", "0.3"], label: "watch-json")
        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        let consumer = try harness.start(
            "blobferry-consumer", label: "consumer", environment: ["BLOBFERRY_CONCURRENCY": "2"])
        #expect(try await consumer.exitStatus(timeout: 120) == 0)
        try await Task.sleep(nanoseconds: 1_000_000_000)
        watch.stop()
        watchJSON.stop()
        #expect(try await watch.exitStatus(timeout: 30) == 0)
        #expect(try await watchJSON.exitStatus(timeout: 30) == 0)

        let text = harness.log("watch")
        let snapshots = text.components(separatedBy: "every 0.3s (Ctrl-C stops)").count - 1
        #expect(snapshots >= 3, "\(text)")
        #expect(!text.contains("\u{1B}["), "no terminal control sequences when not a terminal")
        #expect(text.contains("COMPLETE"), "\(text)")
        #expect(text.contains("over the last minute"))

        let lines = harness.log("watch-json").split(separator: "\n").filter { $0.hasPrefix("{") }
        let statuses = try lines.map { try JSONDecoder().decode(JobStatus.self, from: Data($0.utf8)) }
        #expect(statuses.count >= 3)
        #expect(statuses.last?.complete == true && statuses.last?.copied == 80)
        #expect(statuses.map(\.copied) == statuses.map(\.copied).sorted(), "copied never goes down")
    }

    /// `status --watch` in a real terminal (tmux): one snapshot on screen, redrawn in place,
    /// with the rate and the ETA, ending on COMPLETE.
    @Test func watchRedrawsInPlaceInATerminal() async throws {
        let harness = try await MigrationHarness(name: "watch-tty")
        _ = try await harness.seed((0..<150).map { "t\($0 % 4)/\($0)" })
        let socket = "blobferry-test-\(harness.job)"
        // posix_spawn and waitpid, not Foundation's Process: the tmux server is forked (not
        // exec'd) from the client and keeps the descriptor Process watches for its child's
        // exit, so Process never sees the client end. Children get an empty signal mask.
        func tmux(_ arguments: [String], capture: Bool = false) throws -> String {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-\(UUID()).txt").path
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(
                &actions, 1, capture ? file : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            var none = sigset_t()
            sigemptyset(&none)
            posix_spawnattr_setsigmask(&attributes, &none)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
            let argv = (["/usr/bin/tmux", "-L", socket] + arguments).map { strdup($0) } + [nil]
            defer { for pointer in argv { free(pointer) } }
            var pid: pid_t = 0
            guard posix_spawn(&pid, "/usr/bin/tmux", &actions, &attributes, argv, environ) == 0 else {
                throw HarnessError("cannot start tmux")
            }
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            guard capture else { return "" }
            defer { try? FileManager.default.removeItem(atPath: file) }
            return (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        }
        let command =
            "env BLOBFERRY_JOB=\(harness.job) BLOBFERRY_REDIS_URL=\(harness.redis.url) BLOBFERRY_LEASE_SECONDS=3 "
            + "\(try MigrationHarness.binary("blobferry")) status --watch --interval 0.3"
        _ = try tmux(["new-session", "-d", "-s", "watch", "-x", "200", "-y", "60", command])
        defer { _ = try? tmux(["kill-server"]) }

        #expect(try await harness.run("blobferry-producer", label: "producer").status == 0)
        let consumer = try harness.start(
            "blobferry-consumer", label: "consumer", environment: ["BLOBFERRY_CONCURRENCY": "1"])
        var screens: [String] = []
        try await harness.waitUntil("two different screens while copying") {
            let screen = try tmux(["capture-pane", "-p", "-t", "watch"], capture: true)
            if screen.contains("in progress"), screens.last != screen { screens.append(screen) }
            return screens.count >= 2
        }
        for screen in screens {
            #expect(screen.components(separatedBy: "Ctrl-C stops").count == 2, "one snapshot on screen:\n\(screen)")
            #expect(screen.contains("objects/s over the last minute") && screen.contains("ETA"), "\(screen)")
        }
        #expect(try await consumer.exitStatus(timeout: 120) == 0)
        try await harness.waitUntil("the screen shows the job complete") {
            let screen = try tmux(["capture-pane", "-p", "-t", "watch"], capture: true)
            return screen.contains("COMPLETE") && screen.contains("ETA done")
        }
    }

}
