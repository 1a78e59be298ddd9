import BlobferryCrypto
import BlobferryXML
import Foundation

/// Reads a List Blobs response (`EnumerationResults`) incrementally: feed the body as it
/// arrives (`consume`), then `finish` for the page. Names, sizes, MD5s, content types,
/// metadata and `NextMarker`.
///
/// Why incremental: a page of 5,000 blobs is about 4 MB of XML and the producer lists 16
/// partitions at once; parsing while the body streams means the document itself is never
/// held in memory, only the blobs taken from it.
///
/// `@unchecked Sendable`: it is used by one thread at a time, the HTTP engine thread while
/// the body streams and then the task that awaited the response (the engine resumes that
/// task only after the last chunk, which orders the two).
final class ListBlobsParser: @unchecked Sendable {
    private let collector: ListBlobsCollector
    private let parser: XMLPushParser

    /// `namesOnly`: keep only each blob's name, size and Last-Modified (no other properties, no metadata), for
    /// callers that enqueue names and need nothing else.
    init(namesOnly: Bool = false) {
        collector = ListBlobsCollector(namesOnly: namesOnly)
        parser = XMLPushParser(handler: collector)
    }

    /// Parses the next bytes of the body.
    func consume(_ chunk: UnsafeRawBufferPointer) {
        parser.feed(chunk)
    }

    /// The page; throws when the body was not one complete `EnumerationResults` document,
    /// so a truncated or garbled page is never taken for a short or final one.
    func finish() throws -> BlobListPage {
        do {
            try parser.finish()
        } catch let error as XMLParseError {
            throw RemoteError(
                service: .azure, kind: .transient,
                message: "List Blobs returned XML that does not parse (\(error.message))")
        }
        guard collector.sawResults else {
            throw RemoteError(
                service: .azure, kind: .transient,
                message: "List Blobs returned XML that does not parse (no EnumerationResults)")
        }
        let marker = collector.nextMarker.flatMap { $0.isEmpty ? nil : $0 }
        return BlobListPage(blobs: collector.blobs, nextMarker: marker)
    }

    /// Parses a whole body already in memory.
    static func parse(_ body: [UInt8], namesOnly: Bool = false) throws -> BlobListPage {
        let parser = ListBlobsParser(namesOnly: namesOnly)
        body.withUnsafeBytes { parser.consume($0) }
        return try parser.finish()
    }
}

/// Turns the SAX events of an `EnumerationResults` document into `BlobItem`s. Tracks
/// where it is with a stack of the few element kinds it cares about, and collects text
/// only inside the elements whose text it keeps.
private final class ListBlobsCollector: XMLPushHandler {
    private enum Element {
        case results, blobs, blob, name, properties, contentLength, contentMD5, contentType, lastModified
        case metadata, metadataEntry, nextMarker, other

        var keepsText: Bool {
            switch self {
            case .name, .contentLength, .contentMD5, .contentType, .lastModified, .metadataEntry, .nextMarker:
                return true
            default: return false
            }
        }
    }

    private(set) var blobs: [BlobItem] = []
    private(set) var nextMarker: String?
    /// Whether the root was `EnumerationResults` (any other document is no listing).
    private(set) var sawResults = false
    private let namesOnly: Bool
    private var stack: [Element] = []
    private var text: [UInt8] = []
    private var current: BlobItem?
    private var metadataKey = ""
    /// Azure percent-encodes a name XML cannot carry and marks it `Encoded="true"`.
    private var nameIsEncoded = false

    init(namesOnly: Bool) {
        self.namesOnly = namesOnly
        stack.reserveCapacity(8)
    }

    func startElement(_ name: XMLName, attributes: XMLAttributes) {
        let element: Element
        switch stack.last {
        case nil:
            element = name.equals("EnumerationResults") ? .results : .other
            sawResults = element == .results
        case .results?:
            element = name.equals("Blobs") ? .blobs : name.equals("NextMarker") ? .nextMarker : .other
        case .blobs?:
            element = name.equals("Blob") ? .blob : .other
        case .blob?:
            if name.equals("Name") {
                element = .name
                nameIsEncoded = attributes.value(of: "Encoded")?.lowercased() == "true"
            } else if name.equals("Properties") {
                element = .properties
            } else {
                element = !namesOnly && name.equals("Metadata") ? .metadata : .other
            }
        case .properties?:
            if name.equals("Last-Modified") {
                // Kept even for names only: a delta pass needs it to tell changed blobs.
                element = .lastModified
            } else if name.equals("Content-Length") {
                // Kept even for names only: the producer records bytes listed (`estimate`).
                element = .contentLength
            } else if namesOnly {
                element = .other
            } else if name.equals("Content-MD5") {
                element = .contentMD5
            } else {
                element = name.equals("Content-Type") ? .contentType : .other
            }
        case .metadata?:
            element = .metadataEntry
            metadataKey = name.string
        default:
            element = .other
        }
        if element == .blob { current = BlobItem(name: "", size: 0) }
        if element.keepsText { text.removeAll(keepingCapacity: true) }
        stack.append(element)
    }

    func characters(_ bytes: UnsafeBufferPointer<UInt8>) {
        if stack.last?.keepsText == true { text.append(contentsOf: bytes) }
    }

    func endElement(_ name: XMLName) {
        guard let element = stack.popLast() else { return }
        switch element {
        case .nextMarker:
            nextMarker = textValue
        case .name:
            let value = textValue
            current?.name = nameIsEncoded ? (value.removingPercentEncoding ?? value) : value
        case .lastModified:
            current?.lastModified = HTTPDate.parse(textValue)
        case .contentLength:
            current?.size = Int(textValue) ?? 0
        case .contentMD5:
            current?.contentMD5 = text.isEmpty ? nil : textValue
        case .contentType:
            current?.contentType = text.isEmpty ? nil : textValue
        case .metadataEntry:
            current?.metadata[metadataKey] = textValue
        case .blob:
            if let blob = current { blobs.append(blob) }
            current = nil
        default:
            break
        }
    }

    private var textValue: String { String(decoding: text, as: UTF8.self) }
}
