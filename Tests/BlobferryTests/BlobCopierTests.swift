import BlobferryCrypto
import BlobferryTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import Blobferry

/// The copier against the real emulator and SeaweedFS: one version per object, and the
/// byte budget that bounds memory.
@Suite(.serialized)
struct BlobCopierTests {
    static let mebibyte = 1024 * 1024

    func copier(_ harness: MigrationHarness, budget: Int = 64 * mebibyte) -> BlobCopier {
        BlobCopier(
            azure: harness.azure, s3: harness.s3, destinationPrefix: "", retry: RetryPolicy(maxAttempts: 5),
            multipartThreshold: 5 * Self.mebibyte, partSize: 5 * Self.mebibyte, partsInFlight: 1,
            memory: MemoryBudget(totalBytes: budget, concurrency: 4, partSize: 5 * Self.mebibyte),
            logger: Logger(label: "copier-test"))
    }

    /// Issue 8.6: a blob rewritten while its parts are read used to become an S3 object
    /// spliced from two versions (large block blobs carry no Content-MD5 to catch it).
    /// Reads after the first are pinned with If-Match; the copy starts again from the new
    /// version and the object is exactly that version.
    @Test func aBlobRewrittenDuringAMultipartCopyArrivesAsOneVersion() async throws {
        let harness = try await MigrationHarness(name: "pinned")
        let old = (0..<(12 * Self.mebibyte)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let new = (0..<(12 * Self.mebibyte)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        try await harness.azure.putBlockBlob("big", body: old)
        var copier = copier(harness)
        let rewritten = Mutex(false)
        let azure = harness.azure
        copier.afterPinnedRead = { range in
            guard range.lowerBound == 0,
                rewritten.withLock({ done in
                    defer { done = true }; return !done
                })
            else {
                return
            }
            try await azure.putBlockBlob("big", body: new)
        }
        let result = await copier.copy(ClaimedKey(key: "big", partition: "b"))
        guard case .finished(.copied(let bytes)) = result else {
            Issue.record("the copy did not succeed: \(result)")
            return
        }
        #expect(bytes == new.count)
        let copied = try await harness.s3.getObject(key: "big")
        #expect(Digest.md5(copied) == Digest.md5(new), "the object must be the new version, whole")
        #expect(try await harness.s3.listMultipartUploads() == [])
    }

    @Test func theBudgetMakesCopiesWaitAndServesThemInOrder() async throws {
        let budget = ByteBudget(capacity: 100)
        #expect(await budget.acquire(60) == 60)
        let order = Mutex<[String]>([])
        async let big: Void = {
            let held = await budget.acquire(80)
            order.withLock { $0.append("big") }
            budget.release(held)
        }()
        try await Task.sleep(nanoseconds: 50_000_000)
        async let small: Void = {
            let held = await budget.acquire(10)
            order.withLock { $0.append("small") }
            budget.release(held)
        }()
        try await Task.sleep(nanoseconds: 50_000_000)
        #expect(order.withLock { $0 }.isEmpty, "both wait: first come, first served")
        budget.release(60)
        _ = await (big, small)
        #expect(order.withLock { $0 } == ["big", "small"])
        #expect(budget.available == 100)
        #expect(await budget.acquire(1_000) == 100, "a request above the capacity is clamped")
    }
}
