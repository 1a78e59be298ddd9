import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Writes one line to stderr (errors and progress never mix with stdout's data).
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Redraws one progress line on stderr once a second while stderr is a terminal.
final class ProgressLine: Sendable {
    private let task: Task<Void, Never>?

    init(_ render: @escaping @Sendable () -> String) {
        guard isatty(STDERR_FILENO) == 1 else {
            task = nil
            return
        }
        task = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 1_000_000_000)
                FileHandle.standardError.write(Data("\r\u{1B}[K\(render())".utf8))
            }
        }
    }

    func finish() {
        guard let task else { return }
        task.cancel()
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
