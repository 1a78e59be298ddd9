import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The text of every element with a given name in a small XML document (S3 results and
/// error bodies), in document order. Returns nil when the body is not XML.
enum XMLText {
    static func values(of elementName: String, in body: [UInt8]) -> [String]? {
        let collector = Collector(elementName)
        let parser = XMLParser(data: Data(body))
        parser.delegate = collector
        return parser.parse() ? collector.values : nil
    }

    static func first(_ elementName: String, in body: [UInt8]) -> String? {
        values(of: elementName, in: body)?.first
    }

    private final class Collector: NSObject, XMLParserDelegate {
        let name: String
        var values: [String] = []
        var text: String?
        init(_ name: String) { self.name = name }

        func parser(
            _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
            qualifiedName: String?, attributes: [String: String] = [:]
        ) {
            if elementName == name { text = "" }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) {
            text? += string
        }
        func parser(
            _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?
        ) {
            if elementName == name, let value = text {
                values.append(value)
                text = nil
            }
        }
    }
}
