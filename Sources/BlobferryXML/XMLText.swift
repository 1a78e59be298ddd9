/// The text of every element with a given name in a small XML document (S3 results and
/// error bodies), in document order. Returns nil when the body is not XML.
///
/// Runs on the same libxml2 SAX core as the List Blobs parser, so the processes load no
/// second XML stack (Foundation's XMLParser).
public enum XMLText {
    /// The text of each element named `elementName`, in document order; nil when `body` is
    /// not one well-formed XML document.
    public static func values(of elementName: String, in body: [UInt8]) -> [String]? {
        let collector = Collector(elementName)
        let parser = XMLPushParser(handler: collector)
        body.withUnsafeBytes { parser.feed($0) }
        do {
            try parser.finish()
        } catch {
            return nil
        }
        return collector.values
    }

    /// The text of the first element named `elementName`; nil when there is none or `body`
    /// is not XML.
    public static func first(_ elementName: String, in body: [UInt8]) -> String? {
        values(of: elementName, in: body)?.first
    }

    /// Collects the text (descendants' text included) of each element named `name`.
    private final class Collector: XMLPushHandler {
        let name: String
        var values: [String] = []
        var text: [UInt8]?
        init(_ name: String) { self.name = name }

        func startElement(_ element: XMLName, attributes: XMLAttributes) {
            if text == nil, element.string == name { text = [] }
        }

        func characters(_ bytes: UnsafeBufferPointer<UInt8>) {
            text?.append(contentsOf: bytes)
        }

        func endElement(_ element: XMLName) {
            if let value = text, element.string == name {
                values.append(String(decoding: value, as: UTF8.self))
                text = nil
            }
        }
    }
}
