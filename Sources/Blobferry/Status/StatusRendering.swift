import Foundation

extension JobStatus {
    /// The one JSON object `status --json` prints.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// "COMPLETE", with the failed keys named when some failed, or "in progress".
    var completion: String {
        guard complete else { return "in progress" }
        return failed == 0 ? "COMPLETE" : "COMPLETE with \(failed) failed (blobferry status --failed N lists them)"
    }

    /// The human view: totals, rate, ETA, then one row per partition that has anything
    /// (every partition with `allPartitions`).
    public func text(allPartitions: Bool = false) -> String {
        var lines: [String] = []
        lines.append(
            "job \(job): producer \(producer.rawValue)\(pass > 0 ? " (pass \(pass))" : ""), \(consumers) consumer(s), \(completion)"
        )
        lines.append(
            "listed \(listed)  skipped \(skipped)  queued \(queued)  in flight \(inflight)  copied \(copied) (\(Self.humanBytes(bytes)))  changed \(changed)  re-copied \(recopied) (\(Self.humanBytes(recopiedBytes)))  failed \(failed)  vanished \(vanished)  directory markers \(directoryMarkers)  already in S3 \(skippedExisting)  requeued \(requeued)"
        )
        if deletedInSource > 0 || deletedFromS3 > 0 {
            lines.append(
                "deleted in Azure since copied \(deletedInSource) (blobferry deleted lists them)  deleted from S3 \(deletedFromS3)"
            )
        }
        let eta: String
        if complete {
            eta = "done"
        } else if producer == .listing {
            eta = "- (listing: \(listed) listed so far)"
        } else {
            eta = etaSeconds.map { Self.humanDuration($0) } ?? "-"
        }
        lines.append(
            "rate \(String(format: "%.1f", ratePerSecond1m)) objects/s over the last minute (\(String(format: "%.1f", rate)) since the first copy)  ETA \(eta)"
        )
        if paused { lines.append("PAUSED: consumers claim nothing and the producer lists nothing (blobferry resume)") }
        let live = JobControl(
            concurrency: limits.concurrency, sourceRequestsPerSecond: limits.sourceRequestsPerSecond,
            destinationRequestsPerSecond: limits.destinationRequestsPerSecond, bandwidth: limits.bandwidth)
        if live.hasLimits { lines.append("live limits: \(live.limitsText) (blobferry limits --clear)") }
        let shown = partitions.filter { allPartitions || $0.queued > 0 || $0.done > 0 || $0.listed > 0 }
        if !shown.isEmpty {
            lines.append("")
            lines.append(Self.row("partition", "listing", "listed", "queued", "done"))
            for partition in shown {
                lines.append(
                    Self.row(
                        partition.name,
                        partition.listingComplete ? "listed" : (producer == .listing ? "listing" : "-"),
                        String(partition.listed), String(partition.queued), String(partition.done)))
            }
            let hidden = partitions.count - shown.count
            if hidden > 0 { lines.append("(\(hidden) empty partitions not shown; --all-partitions shows them)") }
        }
        return lines.joined(separator: "\n")
    }

    private static func row(_ columns: String...) -> String {
        columns.enumerated().map { index, text in
            let width = index == 0 ? 12 : 10
            return index == 0
                ? text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0)
                : String(repeating: " ", count: max(0, width - text.count)) + text
        }.joined()
    }

    static func humanBytes(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func humanDuration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(total % 60)s" }
        return "\(total / 3600)h\((total % 3600) / 60)m"
    }
}
