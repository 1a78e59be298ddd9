import BlobferryHTTP
import BlobferryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Throughput measurement, not a correctness test: run with
/// `BLOBFERRY_HTTP_BENCH=1 swift test -c release --filter HTTPEngineBenchmark`.
/// The Python echo server is the bottleneck; the engine's own cost is its CPU per request.
/// `BLOBFERRY_HTTP_BENCH_URL` points it at another server instead (any URL answering GET
/// with 64 bytes); `_REQUESTS` and `_WINDOW` change the count and the transfers in flight.
@Suite struct HTTPEngineBenchmark {
    static let enabled = ProcessInfo.processInfo.environment["BLOBFERRY_HTTP_BENCH"] == "1"

    @Test(.enabled(if: enabled)) func smallGets() async throws {
        let environment = ProcessInfo.processInfo.environment
        let external = environment["BLOBFERRY_HTTP_BENCH_URL"]
        let server = external == nil ? try EchoServerProcess() : nil
        let engine = try HTTPEngine()
        let total = Int(ProcessInfo.processInfo.environment["BLOBFERRY_HTTP_BENCH_REQUESTS"] ?? "") ?? 10_000
        let window = Int(ProcessInfo.processInfo.environment["BLOBFERRY_HTTP_BENCH_WINDOW"] ?? "") ?? 128
        let url = external ?? server?.url("/bytes/64") ?? ""
        let serverPID = server?.pid ?? 0
        // Warm up the connections.
        _ = try await engine.execute(HTTPRequest(method: "GET", url: url))

        let processCPUBefore = Self.processCPUSeconds()
        let engineCPUBefore = engine.statistics.engineThreadCPUSeconds
        let serverCPUBefore = Self.cpuSeconds(of: serverPID)
        let started = Date()
        let ok = try await withThrowingTaskGroup(of: Bool.self) { group in
            var submitted = 0
            var ok = 0
            while submitted < min(window, total) {
                group.addTask { try await engine.execute(HTTPRequest(method: "GET", url: url)).body.count == 64 }
                submitted += 1
            }
            for try await success in group {
                if success { ok += 1 }
                if submitted < total {
                    group.addTask { try await engine.execute(HTTPRequest(method: "GET", url: url)).body.count == 64 }
                    submitted += 1
                }
            }
            return ok
        }
        let elapsed = Date().timeIntervalSince(started)
        let statistics = engine.statistics
        let engineCPU = statistics.engineThreadCPUSeconds - engineCPUBefore
        let processCPU = Self.processCPUSeconds() - processCPUBefore
        let serverCPU = Self.cpuSeconds(of: serverPID) - serverCPUBefore
        #expect(ok == total)
        print(
            String(
                format:
                    "BENCH %d GETs (64 B), %d in flight: %.2f s, %.0f req/s; engine thread CPU %.2f s (%.0f us/req); "
                    + "whole test process CPU %.2f s (%.0f us/req); server CPU %.2f s; connections opened %d",
                total, window, elapsed, Double(total) / elapsed, engineCPU, engineCPU / Double(total) * 1e6,
                processCPU, processCPU / Double(total) * 1e6, serverCPU, statistics.connectionsOpened))
    }

    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
    }

    /// utime + stime of a process from /proc/<pid>/stat, in seconds.
    static func cpuSeconds(of pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14, stime 15 (1-based in proc(5)).
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
