import BlobferryRedis
import BlobferryTestSupport
import Foundation
import Testing

@testable import Blobferry

#if canImport(Glibc)
    import Glibc
#endif

/// "Several VMs, for real": consumers on their own machines (network namespaces joined by
/// a bridge, see `NetworkLab`), Redis, S3 (SeaweedFS) and the Azure emulator on the
/// bridge's address, the producer on this host. Mid-run one consumer's cable is pulled
/// while it holds claims and has copies in flight, for longer than its lease; the others
/// reap its claims and copy them; the cable goes back in. Nothing may be lost or counted
/// twice, and the cut-off consumer must notice and carry on (or exit with a clear line).
/// Traffic stays on loopback and the lab's bridge (no namespace has a default route);
/// every wait is bounded; the lab is removed on every path (and a crashed run's leftovers
/// by the next). `make chaos` runs a bigger version (BLOBFERRY_NETNS_BLOBS).
@Suite(.serialized)
struct NetworkNamespaceTests {
    struct Plan {
        var blobs: Int
        var consumers: Int
        var leaseSeconds: Double

        static func fromEnvironment() -> Plan {
            let environment = ProcessInfo.processInfo.environment
            return Plan(
                blobs: environment["BLOBFERRY_NETNS_BLOBS"].flatMap(Int.init) ?? 2_000,
                consumers: max(2, environment["BLOBFERRY_NETNS_CONSUMERS"].flatMap(Int.init) ?? 3),
                leaseSeconds: 2)
        }
    }

    @Test func aConsumerCutOffPastItsLeaseLosesNothingAndCountsNothingTwice() async throws {
        if let reason = NetworkLab.unavailableReason {
            print("netns: SKIPPED, network namespaces unavailable: \(reason)")
            try Test.cancel("network namespaces unavailable: \(reason)")
        }
        let plan = Plan.fromEnvironment()
        let lab = try NetworkLab()
        defer { lab.remove() }
        var processes: [LocalProcess] = []
        // Runs before the lab goes (defers run last first): nothing is left running.
        defer { for process in processes where process.isRunning { process.stop(signal: SIGKILL) } }
        func note(_ line: String) { print("netns: \(line)") }

        let redis = try RedisServerProcess(host: lab.gateway)
        let emulator = try AzureEmulatorProcess(maxPage: 10, host: lab.gateway)
        let seaweed = try SeaweedFSProcess(host: lab.gateway)
        let harness = try await MigrationHarness(
            name: "netns", emulator: emulator, redis: redis, s3: MigrationHarness.S3Target(seaweed))
        let expected = try await harness.seed(PipelineEndToEndTests.manyNames(plan.blobs))
        // Every request takes a while: a consumer always has copies in flight.
        try emulator.configure(latencyMs: 40)

        let machines = try (1...plan.consumers).map { try lab.addMachine("vm\($0)") }
        for machine in machines {
            for port in [redis.port, emulator.port, seaweed.s3Port] {
                try lab.waitUntilReachable(from: machine, host: lab.gateway, port: port)
            }
        }
        note(
            "lab \(lab.subnet): services on \(lab.gateway), consumers on \(machines.map { "\($0.label)=\($0.address)" }.joined(separator: " "))"
        )
        let settings = [
            "BLOBFERRY_LEASE_SECONDS": String(plan.leaseSeconds), "BLOBFERRY_CONCURRENCY": "4",
            "BLOBFERRY_BATCH": "16", "BLOBFERRY_MAX_ATTEMPTS": "10", "BLOBFERRY_REDIS_OUTAGE_SECONDS": "120",
            "BLOBFERRY_LISTERS": "4",
            // Short queues keep the producer listing while the consumers work, so reaped
            // keys come round again soon and work is left when the cable goes back in.
            "BLOBFERRY_MAX_QUEUED_PER_PARTITION": "8",
        ]
        let producer = try harness.start("blobferry-producer", label: "producer", environment: settings)
        processes.append(producer)
        var consumers: [LocalProcess] = []
        for machine in machines {
            let consumer = try harness.start(
                "blobferry-consumer", ["--id", machine.label], label: machine.label, environment: settings,
                launcher: try lab.launcher(for: machine))
            consumers.append(consumer)
            processes.append(consumer)
        }
        let victim = machines[machines.count - 1]
        try await harness.waitUntil("a fifth of the blobs are copied", timeout: 180) {
            try await harness.status().copied >= expected.count / 5
        }

        // Cut once the victim holds claims in Redis and has requests in flight at Azure,
        // preferably with claims it has not started yet (after 15 s, any claims will do).
        var runID = ""
        var inProgressAtCut = 0
        var cutAt: Date?
        let started = Date()
        while cutAt == nil, Date().timeIntervalSince(started) < 30 {
            let members = try await harness.redis("ZRANGE", harness.keys.consumers, "0", "-1").decodeStrings("ZRANGE")
            runID = members.first { $0.hasPrefix(victim.label + "#") } ?? ""
            let held = runID.isEmpty ? 0 : try await harness.redis("HLEN", harness.keys.inflight(runID)).int ?? 0
            inProgressAtCut = Self.count(try emulator.stats(), "in_progress_by_client", victim.address)
            let unstarted = held > inProgressAtCut || Date().timeIntervalSince(started) > 15
            if held > 0, inProgressAtCut > 0, unstarted {
                try lab.cut(victim)
                cutAt = Date()
            } else {
                try await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        guard let cutAt else {
            Issue.record("\(victim.label) never held claims with requests in flight within 30 s")
            return
        }
        let copiedAtCut = try await harness.status().copied
        let inflightKey = harness.keys.inflight(runID)
        let claimsAtCut = try await harness.redis("HGETALL", inflightKey).decodeHash("HGETALL")
        note(
            "cut \(victim.label) (run \(runID)) at \(copiedAtCut) copied: it held \(claimsAtCut.count) claims, \(inProgressAtCut) requests in flight at Azure"
        )

        // The lease lapses, a live consumer reaps the claims, the others copy them.
        let lease = plan.leaseSeconds
        try await harness.waitUntil("the others reaped and copied the cut-off consumer's claims", timeout: 120) {
            guard Date().timeIntervalSince(cutAt) > 2 * lease else { return false }
            guard try await harness.redis("HLEN", inflightKey).int == 0 else { return false }
            return try await Self.allDone(claimsAtCut, harness)
        }
        let requestsBeforeRestore = Self.count(try emulator.stats(), "by_client", victim.address)
        let requeuedBeforeRestore = try await harness.status().requeued
        try lab.restore(victim)
        let cutSeconds = Date().timeIntervalSince(cutAt)
        let copiedAtRestore = try await harness.status().copied
        note(
            "restored \(victim.label) after \(String(format: "%.1f", cutSeconds)) s (lease \(lease) s): \(requeuedBeforeRestore) keys requeued, \(copiedAtRestore) copied"
        )

        #expect(try await producer.exitStatus(timeout: 300) == 0, "\(harness.log("producer"))")
        var exits: [String: Int32] = [:]
        for (machine, consumer) in zip(machines, consumers) {
            exits[machine.label] = try await consumer.exitStatus(timeout: 300)
        }
        let status = try await harness.status()
        let stats = try emulator.stats()
        let doneTotal = status.partitions.reduce(0) { $0 + $1.done }
        let localCopies = machines.map { Self.closingCopied(harness.log($0.label), $0.label) }
        let copiedTwice = localCopies.reduce(0) { $0 + ($1 ?? 0) } - status.copied
        let victimLog = harness.log(victim.label)
        let noticed = victimLog.contains("lease had lapsed")
        let dropped = victimLog.split(separator: "\n").first {
            $0.contains("claims reaped while this consumer was away")
        }
        let requestsAfterRestore = Self.count(stats, "by_client", victim.address) - requestsBeforeRestore
        note(
            "end: \(expected.count) keys, \(plan.consumers) consumers, cut \(String(format: "%.1f", cutSeconds)) s (lease \(lease) s); copied \(status.copied), done sets \(doneTotal), requeued \(status.requeued), failed \(status.failed), queued \(status.queued), in flight \(status.inflight)"
        )
        note(
            "copies per consumer \(zip(machines, localCopies).map { "\($0.label)=\($1.map(String.init) ?? "?")" }.joined(separator: " ")); copies made twice: \(copiedTwice) (recorded once each)"
        )
        note(
            "\(victim.label): exit \(exits[victim.label].map(String.init) ?? "?"), noticed the lapsed lease: \(noticed), \(dropped.map(String.init) ?? "dropped no claims"), \(requestsAfterRestore) Azure requests after the restore (\(claimsAtCut.count) claims held at the cut)"
        )

        #expect(try await harness.mismatches(expected) == [])
        #expect(status.copied == expected.count)
        #expect(doneTotal == expected.count)
        #expect(status.complete)
        #expect(status.failed == 0 && status.queued == 0 && status.inflight == 0)
        #expect(status.requeued >= claimsAtCut.count, "every claim the victim held came back through the reaper")
        #expect(copiedTwice >= 0)
        for machine in machines where machine.label != victim.label {
            #expect(exits[machine.label] == 0, "\(machine.label): \(harness.log(machine.label).suffix(2_000))")
        }
        // The cut-off consumer carries on and ends like the others, or exits naming why.
        #expect(
            exits[victim.label] == 0 || victimLog.contains("error"),
            "\(victim.label) exited \(exits[victim.label].map(String.init) ?? "?") without a line saying why")
        #expect(localCopies.allSatisfy { $0 != nil }, "every consumer printed its closing line")
        // It says so and drops its unstarted claims (QueueScriptTests.aConsumerReapedWhileAwayIsToldItsLeaseLapsed).
        #expect(noticed, "\(victim.label) never logged that its lease had lapsed: \(victimLog.suffix(3_000))")
    }

    /// One client's counter from the emulator's stats (`by_client`, `in_progress_by_client`).
    static func count(_ stats: [String: Any], _ field: String, _ client: String) -> Int {
        ((stats[field] as? [String: Any])?[client] as? Int) ?? 0
    }

    /// Whether every key of `claims` (key -> partition) is in its partition's done set.
    static func allDone(_ claims: [String: String], _ harness: MigrationHarness) async throws -> Bool {
        for (partition, keys) in Dictionary(grouping: claims.keys, by: { claims[$0] ?? "" }) {
            let reply = try await harness.redis(["SMISMEMBER", harness.keys.done(partition)] + keys)
            guard let flags = reply.array, flags.allSatisfy({ $0.int == 1 }) else { return false }
        }
        return true
    }

    /// The count in a consumer's closing line (`consumer <name>: copied N (...`), if any.
    static func closingCopied(_ log: String, _ name: String) -> Int? {
        let marker = "consumer \(name): copied "
        guard let line = log.split(separator: "\n").last(where: { $0.contains(marker) }),
            let range = line.range(of: marker)
        else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }
}
