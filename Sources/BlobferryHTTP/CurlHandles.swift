import CCurl
import CCurlShims
import Foundation

/// curl_global_init must run once before any other curl call; Swift runs a global's
/// initializer exactly once, on first use, from whichever thread gets there first.
let curlGlobalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

/// Owns one CURL easy handle and its error buffer. Easy handles are pooled by the engine
/// thread and reset between transfers (curl_easy_reset keeps their allocations and lets
/// the multi handle's connection cache serve them).
final class EasyHandle {
    let raw: UnsafeMutableRawPointer
    /// CURLOPT_ERRORBUFFER: curl writes its detailed message here when a transfer fails.
    let errorBuffer: UnsafeMutablePointer<CChar>

    init?() {
        guard let raw = curl_easy_init() else { return nil }
        self.raw = raw
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    /// curl's message for the last failure, or curl's generic text for `code`.
    func errorText(_ code: CURLcode) -> String {
        if errorBuffer.pointee != 0 {
            var text = String(cString: errorBuffer)
            while text.last == "\n" || text.last == "\r" { text.removeLast() }
            if !text.isEmpty { return text }
        }
        return String(cString: curl_easy_strerror(code))
    }

    deinit {
        curl_easy_cleanup(raw)
        errorBuffer.deallocate()
    }
}

/// Owns one curl_slist of request header lines. Built on the caller's thread (curl copies
/// each line), handed to curl by the engine thread, freed when its transfer is released,
/// which is always after the easy handle was removed from the multi handle and reset.
final class CurlHeaderList {
    let head: UnsafeMutablePointer<curl_slist>?

    init(lines: [String]) throws {
        var head: UnsafeMutablePointer<curl_slist>? = nil
        for line in lines {
            guard let next = curl_slist_append(head, line) else {
                curl_slist_free_all(head)
                throw HTTPError(code: .transport, message: "out of memory building request headers")
            }
            head = next
        }
        self.head = head
    }

    deinit { curl_slist_free_all(head) }
}
