import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Reads a List Blobs response (`EnumerationResults`) with Foundation's streaming XML
/// parser: names, sizes, MD5s, content types, metadata and `NextMarker`.
final class ListBlobsParser: NSObject, XMLParserDelegate {
    private(set) var blobs: [BlobItem] = []
    private(set) var nextMarker: String?
    private var path: [String] = []
    private var text = ""
    private var current: BlobItem?
    /// Azure percent-encodes a name XML cannot carry and marks it `Encoded="true"`.
    private var nameIsEncoded = false

    static func parse(_ body: [UInt8]) throws -> BlobListPage {
        let delegate = ListBlobsParser()
        let parser = XMLParser(data: Data(body))
        parser.delegate = delegate
        guard parser.parse() else {
            throw RemoteError(
                service: .azure, kind: .transient, message: "List Blobs returned XML that does not parse")
        }
        let marker = delegate.nextMarker.flatMap { $0.isEmpty ? nil : $0 }
        return BlobListPage(blobs: delegate.blobs, nextMarker: marker)
    }

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
        qualifiedName: String?, attributes: [String: String] = [:]
    ) {
        path.append(elementName)
        text = ""
        if elementName == "Name" { nameIsEncoded = attributes["Encoded"]?.lowercased() == "true" }
        if elementName == "Blob", path.count >= 2, path[path.count - 2] == "Blobs" {
            current = BlobItem(name: "", size: 0)
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text += string
    }

    func parser(
        _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?
    ) {
        defer {
            path.removeLast()
            text = ""
        }
        let parent = path.count >= 2 ? path[path.count - 2] : ""
        switch (parent, elementName) {
        case ("EnumerationResults", "NextMarker"):
            nextMarker = text
        case ("Blob", "Name"):
            current?.name = nameIsEncoded ? (text.removingPercentEncoding ?? text) : text
        case ("Properties", "Content-Length"):
            current?.size = Int(text) ?? 0
        case ("Properties", "Content-MD5"):
            current?.contentMD5 = text.isEmpty ? nil : text
        case ("Properties", "Content-Type"):
            current?.contentType = text.isEmpty ? nil : text
        case ("Metadata", _):
            current?.metadata[elementName] = text
        case ("Blobs", "Blob"):
            if let blob = current { blobs.append(blob) }
            current = nil
        default:
            break
        }
    }
}
