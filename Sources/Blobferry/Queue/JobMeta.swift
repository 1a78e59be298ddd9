/// What the producer records about a job in `blobferry:<job>:meta`, so consumers and
/// `blobferry status` use the same partitions, and a process configured for another
/// source or destination is refused instead of mixing two migrations.
public struct JobMeta: Sendable, Equatable {
    /// The source account's blob endpoint.
    public var source: String
    public var container: String
    /// The destination's S3 endpoint (empty until a process that knows it ran).
    public var destination: String
    public var bucket: String
    public var prefix: String
    /// The partition scheme's specification (`one-char`, `two-char` or a prefix list).
    public var partitions: String
    /// Unknown text (a newer version, a hand edit) reads as `notStarted`: the next
    /// producer run starts a fresh pass, which the done sets make safe.
    public var producerState: ProducerState
    public var pass: Int
    /// The listing filter of the last pass (`ListingFilter.metaFields`; a job recorded
    /// before filters existed reads as no filter).
    public var filter: [String: String]

    public init(fields: [String: String]) {
        source = fields["source"] ?? ""
        container = fields["container"] ?? ""
        destination = fields["destination"] ?? ""
        bucket = fields["bucket"] ?? ""
        prefix = fields["prefix"] ?? ""
        partitions = fields["partitions"] ?? "one-char"
        producerState = fields["producer"].flatMap(ProducerState.init(rawValue:)) ?? .notStarted
        pass = Int(fields["pass"] ?? "") ?? 0
        filter = Dictionary(uniqueKeysWithValues: ListingFilter().metaFields.map { ($0.0, fields[$0.0] ?? "") })
    }

    public init(settings: Settings) {
        source = settings.sourceEndpoint
        container = settings.source.container
        destination = settings.destination.bucket.isEmpty ? "" : settings.destinationEndpoint
        bucket = settings.destination.bucket
        prefix = settings.destination.prefix
        partitions = settings.producer.partitions
        producerState = .notStarted
        pass = 0
        filter = Dictionary(uniqueKeysWithValues: ListingFilter(settings: settings.source).metaFields)
    }

    /// The binding fields this process would write: the source always, the destination
    /// only when it is configured (a producer may run without one).
    func bindingFields() -> [(String, String)] {
        var fields = [("source", source), ("container", container)]
        if !bucket.isEmpty { fields += [("destination", destination), ("bucket", bucket), ("prefix", prefix)] }
        return fields
    }

    /// Refuses settings that disagree with what the job was bound to at its first run:
    /// source endpoint, container, destination endpoint, bucket and prefix (a consumer
    /// pointed at another account with a same-named container would otherwise count every
    /// key vanished, or copy the wrong bytes). `settings.rebind` accepts the change.
    func checkCompatible(with settings: Settings, role: Role) throws {
        let wanted = JobMeta(settings: settings)
        var pairs = [("source endpoint", source, wanted.source), ("container", container, wanted.container)]
        if !bucket.isEmpty, !wanted.bucket.isEmpty {
            pairs += [("bucket", bucket, wanted.bucket), ("destination prefix", prefix, wanted.prefix)]
            if !destination.isEmpty { pairs.append(("destination endpoint", destination, wanted.destination)) }
        }
        if !settings.rebind {
            // An empty prefix is a binding too (recorded with its bucket): "" is not "x/".
            for (what, recorded, configured) in pairs
            where (!recorded.isEmpty || what == "destination prefix") && recorded != configured {
                throw BlobferryError(
                    .configuration,
                    "job '\(settings.job)' is bound to \(what) '\(recorded)', not '\(configured)' (use another BLOBFERRY_JOB, `blobferry reset`, or BLOBFERRY_REBIND=true to move the job)"
                )
            }
        }
        if role == .producer, pass > 0, !settings.rebind, filter != wanted.filter {
            let recorded = filter.sorted { $0.key < $1.key }.filter { !$0.value.isEmpty }
                .map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            throw BlobferryError(
                .configuration,
                "job '\(settings.job)' was listed with the filter [\(recorded)]: another filter would report the blobs it leaves out as deleted in Azure (BLOBFERRY_REBIND=true to change it anyway)"
            )
        }
        if role == .producer, partitions != settings.producer.partitions {
            throw BlobferryError(
                .configuration,
                "job '\(settings.job)' was listed with partitions '\(partitions)', not '\(settings.producer.partitions)': changing them would orphan its done sets"
            )
        }
    }
}
