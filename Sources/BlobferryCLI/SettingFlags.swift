import Blobferry

/// Which setting each command-line flag overrides. swift-argument-parser declares flags
/// statically, so they cannot be generated from `SettingDescriptor.all`; this table is
/// what lets a test check that every flag names exactly one described setting, and it
/// gives each flag its setting's help text.
enum SettingFlags {
    static let paths: [String: String] = [
        "job": "job",
        "log-level": "log_level",
        "log-format": "log_format",
        "metrics-address": "metrics_address",
        "listen": "metrics_address",
        "progress-interval": "progress_interval",
        "rebind": "rebind",
        "partitions": "producer.partitions",
        "listers": "producer.listers",
        "max-queued-per-partition": "producer.max_queued_per_partition",
        "include": "source.include",
        "exclude": "source.exclude",
        "modified-after": "source.modified_after",
        "modified-before": "source.modified_before",
        "concurrency": "consumer.concurrency",
        "batch": "consumer.batch",
        "id": "consumer.id",
        "wait-for-more": "consumer.wait_for_more",
    ]

    /// Flags that are not settings (what to run, how to print).
    static let notSettings: Set<String> = ["config", "help", "h"]

    /// The help of the setting `flag` overrides, with its environment variable.
    static func help(_ flag: String) -> String {
        guard let path = paths[flag], let descriptor = SettingDescriptor.all.first(where: { $0.path == path }) else {
            return ""
        }
        let variable = descriptor.variables.first.map { " (default: $\($0))" } ?? ""
        return descriptor.help.prefix(1).uppercased() + descriptor.help.dropFirst() + "." + variable
    }
}
