import BlobferryXML
import Testing

/// The module's public surface as its users see it (no `@testable`): `XMLText` on the S3
/// bodies blobferry reads, and a handler of its own fed in chunks. The List Blobs parser's
/// suite covers the push parser on awkward documents.
struct XMLTextTests {
    static let listing = Array(
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult><IsTruncated>true</IsTruncated>\
        <Contents><Key>a &amp; b</Key></Contents><Contents><Key><![CDATA[<c>]]></Key></Contents>\
        <Contents><Key></Key></Contents><NextContinuationToken>t0k=</NextContinuationToken></ListBucketResult>
        """.utf8)

    @Test func valuesComeInDocumentOrderWithEntitiesReplaced() {
        #expect(XMLText.values(of: "Key", in: Self.listing) == ["a & b", "<c>", ""])
        #expect(XMLText.first("IsTruncated", in: Self.listing) == "true")
        #expect(XMLText.first("NextContinuationToken", in: Self.listing) == "t0k=")
        #expect(XMLText.first("Missing", in: Self.listing) == nil)
        #expect(XMLText.values(of: "Missing", in: Self.listing) == [])
    }

    @Test func textOfNestedElementsIsIncluded() {
        let body = Array("<Error><Code>Slow<b>Down</b></Code><Message>m</Message></Error>".utf8)
        #expect(XMLText.first("Code", in: body) == "SlowDown")
    }

    @Test(arguments: [
        "", "not xml", "<Error><Code>x</Code>", "<a></b>",
        "<!DOCTYPE a [<!ENTITY e \"x\">]><a><Code>&e;</Code></a>",
    ])
    func refusedDocumentsGiveNil(_ body: String) {
        #expect(XMLText.values(of: "Code", in: Array(body.utf8)) == nil)
    }

    /// A handler outside the module sees names, attributes and text, whatever the chunking.
    @Test(arguments: [1, 3, 1 << 16])
    func handlerSeesEventsAcrossChunks(_ size: Int) throws {
        final class Recorder: XMLPushHandler {
            var events: [String] = []
            var text: [UInt8] = []
            func startElement(_ name: XMLName, attributes: XMLAttributes) {
                events.append("<\(name.string) \(attributes.value(of: "Encoded") ?? "-")>")
                #expect(name.equals("Name") == (name.string == "Name"))
            }
            func characters(_ bytes: UnsafeBufferPointer<UInt8>) { text.append(contentsOf: bytes) }
            func endElement(_ name: XMLName) { events.append("</\(name.string)>") }
        }
        let body = Array("<r><Name Encoded=\"true\">日本&lt;</Name><x/></r>".utf8)
        let recorder = Recorder()
        let parser = XMLPushParser(handler: recorder)
        var offset = 0
        while offset < body.count {
            let end = min(body.count, offset + size)
            body[offset..<end].withUnsafeBytes { parser.feed($0) }
            offset = end
        }
        try parser.finish()
        #expect(recorder.events == ["<r ->", "<Name true>", "</Name>", "<x ->", "</x>", "</r>"])
        #expect(String(decoding: recorder.text, as: UTF8.self) == "日本<")
    }

    @Test func truncatedDocumentThrowsOnFinish() {
        final class Ignore: XMLPushHandler {
            func startElement(_ name: XMLName, attributes: XMLAttributes) {}
            func characters(_ bytes: UnsafeBufferPointer<UInt8>) {}
            func endElement(_ name: XMLName) {}
        }
        let parser = XMLPushParser(handler: Ignore())
        Array("<r><a>".utf8).withUnsafeBytes { parser.feed($0) }
        #expect(throws: XMLParseError.self) { try parser.finish() }
    }
}
