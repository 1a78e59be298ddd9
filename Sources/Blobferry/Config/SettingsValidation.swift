import BlobferryCrypto
import BlobferryRedis
import Foundation

extension Settings {
    /// Checks every setting `role` uses and throws one `.configuration` error naming the
    /// first bad one, so nothing touches Redis or the clouds with a half-valid setup.
    public func validate(for role: Role) throws {
        try check(!job.isEmpty, "job is not set (BLOBFERRY_JOB or job: in the config file)")
        try check(
            job.count <= 64 && job.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) },
            "job '\(job)' may hold only letters, digits, '.', '_' and '-' (64 at most)")
        do {
            _ = try RedisConfiguration(url: redisURL.exposedValue)
        } catch {
            throw BlobferryError(.configuration, "redis url (BLOBFERRY_REDIS_URL) is invalid: \(error)")
        }
        guard role != .admin else {
            if let problem = SettingDescriptor.rangeProblem(in: self, for: role) {
                throw BlobferryError(.configuration, problem)
            }
            return
        }

        try validateSource()
        try validatePartitions()
        if role == .producer { try validateFilter() }
        if let problem = SettingDescriptor.rangeProblem(in: self, for: role) {
            throw BlobferryError(.configuration, problem)
        }
        if role == .consumer {
            try validateDestination()
            try check(
                consumer.multipartThreshold >= consumer.partSize
                    && consumer.multipartThreshold <= 5 * 1024 * 1024 * 1024,
                "consumer.multipart_threshold must be at least part_size and at most 5 GiB")
            try check(
                consumer.memoryBudget >= 2 * consumer.partSize,
                "consumer.memory_budget must be at least twice part_size (a part must fit with the first reads)")
        }
    }

    private func validateFilter() throws {
        for (name, text) in [("modified_after", source.modifiedAfter), ("modified_before", source.modifiedBefore)]
        where !text.trimmingCharacters(in: .whitespaces).isEmpty {
            try check(
                ListingFilter.date(text) != nil,
                "source.\(name) '\(text)' is not an ISO 8601 time (2026-01-31T12:00:00Z) or day (2026-01-31)")
        }
        let filter = ListingFilter(settings: source)
        if let after = filter.modifiedAfter, let before = filter.modifiedBefore {
            try check(after < before, "source.modified_after must be before source.modified_before")
        }
    }

    private func validateSource() throws {
        try check(
            !source.endpoint.isEmpty || !source.account.isEmpty,
            "source endpoint is not set (AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT or BLOBFERRY_SOURCE_ENDPOINT)"
        )
        try check(
            !source.account.isEmpty,
            "source account is not set (AZURE_STORAGE_ACCOUNT or AccountName= in AZURE_STORAGE_CONNECTION_STRING)")
        try check(isHTTPURL(sourceEndpoint), "source endpoint '\(sourceEndpoint)' is not an http(s) URL")
        // Neither a key nor a SAS: an Entra ID token (client secret, workload identity,
        // managed identity) is looked for at start, and a failing one is exit 3.
        if let key = source.key {
            do {
                _ = try AzureSharedKeySigner(account: source.account, base64Key: key.exposedValue)
            } catch {
                throw BlobferryError(.configuration, "AZURE_STORAGE_KEY is not a valid base64 account key")
            }
        }
        try check(!source.container.isEmpty, "source container is not set (BLOBFERRY_SOURCE_CONTAINER)")
        try check(
            Self.isValidContainerName(source.container),
            "source container '\(source.container)' is not a valid Azure container name (3-63 of a-z 0-9 -)")
    }

    private func validateDestination() throws {
        try check(!destination.bucket.isEmpty, "destination bucket is not set (BLOBFERRY_DEST_BUCKET)")
        try check(!destination.region.isEmpty, "destination region is not set (AWS_REGION)")
        try check(
            destination.endpoint.isEmpty || isHTTPURL(destination.endpoint),
            "destination endpoint '\(destination.endpoint)' is not an http(s) URL (AWS_ENDPOINT_URL_S3)")
        // Neither key: the credential chain finds them (profile, web identity, container,
        // instance metadata). One without the other is a mistake.
        try check(
            !destination.accessKeyID.isEmpty || destination.secretAccessKey == nil,
            "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        try check(
            destination.accessKeyID.isEmpty || destination.secretAccessKey != nil,
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        try check(
            ["", "path", "virtual"].contains(destination.addressing),
            "destination addressing must be 'path' or 'virtual'")
        try check(destination.prefix.utf8.count < 1024, "destination prefix is longer than S3 allows")
        let classes = [
            "", "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER",
            "DEEP_ARCHIVE", "GLACIER_IR", "OUTPOSTS", "SNOW", "EXPRESS_ONEZONE",
        ]
        try check(
            classes.contains(destination.storageClass),
            "destination storage_class '\(destination.storageClass)' is not an S3 storage class (\(classes.dropFirst().joined(separator: ", ")))"
        )
        let tiers = ["hot", "cool", "cold", "archive"]
        for pair in destination.storageClassByTier.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            try check(
                parts.count == 2 && tiers.contains(parts[0].lowercased()) && classes.dropFirst().contains(parts[1]),
                "destination storage_class_by_tier: '\(pair)' is not TIER=CLASS with a tier of Hot, Cool, Cold, Archive and an S3 storage class"
            )
        }
        try check(
            ["", "AES256", "aws:kms"].contains(destination.sse), "destination sse must be AES256 or aws:kms")
        try check(
            destination.sse == "aws:kms" || (destination.sseKMSKeyID.isEmpty && !destination.sseBucketKey),
            "destination sse_kms_key_id and sse_bucket_key need sse: aws:kms")
        try check(
            ["", "bucket-owner-full-control"].contains(destination.acl),
            "destination acl must be bucket-owner-full-control (or empty)")
        try check(
            ["always", "never"].contains(destination.overwrite), "destination overwrite must be 'always' or 'never'")
    }

    private func validatePartitions() throws {
        do {
            _ = try PartitionScheme(parsing: producer.partitions)
        } catch let error as BlobferryError {
            throw error
        }
    }

    /// The blob service URL, from the endpoint setting or the account's public endpoint.
    public var sourceEndpoint: String {
        if !source.endpoint.isEmpty {
            return source.endpoint.hasSuffix("/") ? String(source.endpoint.dropLast()) : source.endpoint
        }
        return "https://\(source.account).blob.core.windows.net"
    }

    /// The S3 endpoint requests go to: the endpoint setting, or AWS's regional endpoint.
    public var destinationEndpoint: String {
        let endpoint = destination.endpoint
        if endpoint.isEmpty { return "https://s3.\(destination.region).amazonaws.com" }
        return endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
    }

    static func isValidContainerName(_ name: String) -> Bool {
        if name == "$root" { return true }
        let allowed = name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
        return allowed && (3...63).contains(name.utf8.count) && !name.hasPrefix("-") && !name.hasSuffix("-")
            && !name.contains("--")
    }

    private func isHTTPURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), url.host != nil else { return false }
        return scheme == "http" || scheme == "https"
    }

    private func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw BlobferryError(.configuration, message()) }
    }
}
