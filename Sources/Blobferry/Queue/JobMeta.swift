/// What the producer records about a job in `blobferry:<job>:meta`, so consumers and
/// `blobferry status` use the same partitions and a process configured for another
/// container or bucket is refused instead of mixing two migrations.
public struct JobMeta: Sendable, Equatable {
    public var source: String
    public var container: String
    public var bucket: String
    public var prefix: String
    /// The partition scheme's specification (`one-char`, `two-char` or a prefix list).
    public var partitions: String
    /// Unknown text (a newer version, a hand edit) reads as `notStarted`: the next
    /// producer run starts a fresh pass, which the done sets make safe.
    public var producerState: ProducerState
    public var pass: Int

    public init(fields: [String: String]) {
        source = fields["source"] ?? ""
        container = fields["container"] ?? ""
        bucket = fields["bucket"] ?? ""
        prefix = fields["prefix"] ?? ""
        partitions = fields["partitions"] ?? "one-char"
        producerState = fields["producer"].flatMap(ProducerState.init(rawValue:)) ?? .notStarted
        pass = Int(fields["pass"] ?? "") ?? 0
    }

    public init(settings: Settings) {
        source = settings.sourceEndpoint
        container = settings.source.container
        bucket = settings.destination.bucket
        prefix = settings.destination.prefix
        partitions = settings.producer.partitions
        producerState = .notStarted
        pass = 0
    }

    /// Refuses settings that disagree with how the job was created.
    func checkCompatible(with settings: Settings, role: Role) throws {
        if container != settings.source.container {
            throw BlobferryError(
                .configuration,
                "job '\(settings.job)' migrates container '\(container)', not '\(settings.source.container)' (use another BLOBFERRY_JOB)"
            )
        }
        if role == .producer, partitions != settings.producer.partitions {
            throw BlobferryError(
                .configuration,
                "job '\(settings.job)' was listed with partitions '\(partitions)', not '\(settings.producer.partitions)': changing them would orphan its done sets"
            )
        }
        if role == .consumer, !bucket.isEmpty,
            bucket != settings.destination.bucket || prefix != settings.destination.prefix
        {
            throw BlobferryError(
                .configuration,
                "job '\(settings.job)' copies to bucket '\(bucket)' prefix '\(prefix)', not '\(settings.destination.bucket)' prefix '\(settings.destination.prefix)'"
            )
        }
    }
}
