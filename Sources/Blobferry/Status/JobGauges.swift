/// The exporter's gauges (`blobferry exporter`).
///
/// Why from `JobStatus`: the exporter and `status --json` then share one computation (the
/// `progress` script plus one pipelined read), so their numbers are equal whenever nothing
/// is moving, and a KEDA trigger scales on the same "queued" a person reads.
extension JobStatus {
    /// Every job gauge: name -> help.
    public static let gaugeDescriptions: [String: (kind: Metrics.Kind, help: String)] = [
        "blobferry_job_listed": (.gauge, "Keys listed in the job (all passes)."),
        "blobferry_job_queued": (.gauge, "Keys waiting in the queues."),
        "blobferry_job_in_flight": (.gauge, "Keys claimed by consumers and not yet acknowledged."),
        "blobferry_job_copied": (.gauge, "Keys copied (the size of the done sets)."),
        "blobferry_job_bytes": (.gauge, "Bytes copied."),
        "blobferry_job_failed": (.gauge, "Keys that exhausted their attempts."),
        "blobferry_job_vanished": (.gauge, "Keys gone from Azure before they were copied."),
        "blobferry_job_deleted_in_source": (
            .gauge, "Copied keys the last completed pass did not find in Azure (objects still in S3)."
        ),
        "blobferry_job_consumers": (.gauge, "Consumer runs holding a lease."),
        "blobferry_job_complete": (.gauge, "1 once listing finished and nothing is queued or in flight."),
        "blobferry_job_partition_queued": (.gauge, "Keys waiting in one partition's queue."),
        "blobferry_job_paused": (.gauge, "1 while the job is paused (blobferry pause)."),
    ]

    /// The Prometheus text of this snapshot, every series labelled with the job.
    public func prometheusGauges() -> String {
        let label = Metrics.labelText(["job", job])
        let totals: [(String, Int)] = [
            ("blobferry_job_listed", listed), ("blobferry_job_queued", queued),
            ("blobferry_job_in_flight", inflight), ("blobferry_job_copied", copied), ("blobferry_job_bytes", bytes),
            ("blobferry_job_failed", failed), ("blobferry_job_vanished", vanished),
            ("blobferry_job_deleted_in_source", deletedInSource),
            ("blobferry_job_consumers", consumers), ("blobferry_job_complete", complete ? 1 : 0),
            ("blobferry_job_paused", paused ? 1 : 0),
        ]
        var byName: [String: [String]] = [:]
        for (name, value) in totals { byName[name] = ["\(name)\(label) \(value)"] }
        byName["blobferry_job_partition_queued"] = partitions.map {
            "blobferry_job_partition_queued\(Metrics.labelText(["job", job, "partition", $0.name])) \($0.queued)"
        }
        return Metrics.exposition(byName, descriptions: Self.gaugeDescriptions)
    }
}
