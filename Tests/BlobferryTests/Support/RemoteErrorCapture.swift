import Testing

@testable import Blobferry

/// Runs `body` and returns the `RemoteError` it threw; records an issue (and returns nil)
/// when it succeeded or threw something else.
func captureRemoteError(_ body: () async throws -> Void) async -> RemoteError? {
    do {
        try await body()
        Issue.record("expected a RemoteError, the call succeeded")
        return nil
    } catch let error as RemoteError {
        return error
    } catch {
        Issue.record("expected a RemoteError, got \(error)")
        return nil
    }
}
