import Foundation
import Testing

@testable import Blobferry

/// The streaming List Blobs parser on documents that stress a SAX parser: entities and
/// character references, CDATA, `Encoded="true"` names, names cut across chunks, empty
/// markers, and documents that must be refused rather than read as a short page.
struct ListBlobsParserTests {
    /// A page shaped like Azure's (BOM, declaration, echoed parameters, properties,
    /// metadata, a BlobPrefix), with the awkward bits in names.
    static let document =
        Array("\u{FEFF}".utf8)
        + Array(
            """
            <?xml version="1.0" encoding="utf-8"?>
            <EnumerationResults ServiceEndpoint="http://127.0.0.1/devstoreaccount1/" ContainerName="c">\
            <Prefix>p</Prefix><Marker /><MaxResults>5000</MaxResults><Blobs>\
            <Blob><Name>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;</Name><Properties>\
            <Creation-Time>Mon, 01 Jan 2024 00:00:00 GMT</Creation-Time>\
            <Last-Modified>Tue, 02 Jan 2024 03:04:05 GMT</Last-Modified><Content-Length>12345</Content-Length>\
            <Content-Type>text/plain; charset=utf-8</Content-Type><Content-MD5>1B2M2Y8AsgTpgAmY7PhCfg==</Content-MD5>\
            </Properties><Metadata><origin>synthetic</origin><Empty /></Metadata></Blob>
            <Blob><Name Encoded="true">bell%07and%1Besc%2F%E6%97%A5</Name><Properties>\
            <Content-Length>0</Content-Length><Content-Type /><Content-MD5 /></Properties></Blob>
            <BlobPrefix><Name>dir/</Name></BlobPrefix>
            <Blob><Name><![CDATA[cdata <not a tag> & more]]></Name><Properties><Content-Length>7</Content-Length>\
            </Properties></Blob>
            <Blob><Name>&#x65E5;&#26412;-ü/😀 carriage&#13;return  two  spaces </Name></Blob>
            </Blobs><NextMarker>2!72!MDAwMDA2IWJsb2IxITAwMDAyOCE5OTk5LTEyLTMxVDIzOjU5OjU5Ljk5OTk5OTlaIQ--</NextMarker>\
            </EnumerationResults>
            """.utf8)

    static let expectedNames = [
        "a & b <c> \"d\" 'e'",
        "bell\u{07}and\u{1B}esc/日",
        "cdata <not a tag> & more",
        "日本-ü/😀 carriage\rreturn  two  spaces ",
    ]

    /// Feeds `body` in chunks of `size` bytes.
    static func parse(_ body: [UInt8], chunk size: Int, namesOnly: Bool = false) throws -> BlobListPage {
        let parser = ListBlobsParser(namesOnly: namesOnly)
        var offset = 0
        while offset < body.count {
            let end = min(body.count, offset + size)
            body[offset..<end].withUnsafeBytes { parser.consume($0) }
            offset = end
        }
        return try parser.finish()
    }

    static func expectUnparseable(_ body: [UInt8], chunk: Int = 1 << 20, _ comment: Comment? = nil) {
        do {
            let page = try parse(body, chunk: chunk)
            Issue.record("parsed into \(page.blobs.count) blobs; \(comment?.description ?? "")")
        } catch let error as RemoteError {
            #expect(error.kind == .transient)
            #expect(error.message.hasPrefix("List Blobs returned XML that does not parse"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func readsEveryField() throws {
        let page = try ListBlobsParser.parse(Self.document)
        #expect(page.blobs.map(\.name) == Self.expectedNames)
        #expect(page.nextMarker == "2!72!MDAwMDA2IWJsb2IxITAwMDAyOCE5OTk5LTEyLTMxVDIzOjU5OjU5Ljk5OTk5OTlaIQ--")
        let first = try #require(page.blobs.first)
        #expect(first.size == 12345)
        #expect(first.contentType == "text/plain; charset=utf-8")
        #expect(first.contentMD5 == "1B2M2Y8AsgTpgAmY7PhCfg==")
        #expect(first.metadata == ["origin": "synthetic", "Empty": ""])
        #expect(page.blobs[1].size == 0)
        #expect(page.blobs[1].contentType == nil)
        #expect(page.blobs[1].contentMD5 == nil)
        #expect(page.blobs[2].size == 7)
        #expect(page.blobs[3].metadata.isEmpty)
    }

    /// Every chunking gives the same page: names, entities and attributes cut anywhere.
    @Test(arguments: [1, 2, 3, 5, 7, 64, 4096])
    func chunkBoundariesDoNotMatter(size: Int) throws {
        let whole = try ListBlobsParser.parse(Self.document)
        let chunked = try Self.parse(Self.document, chunk: size)
        #expect(chunked.blobs == whole.blobs)
        #expect(chunked.nextMarker == whole.nextMarker)
    }

    /// Names and sizes (the producer records bytes listed for `estimate`), nothing else.
    @Test func namesOnlyKeepsNamesAndSizesAndDropsTheRest() throws {
        let page = try Self.parse(Self.document, chunk: 3, namesOnly: true)
        let full = try ListBlobsParser.parse(Self.document)
        #expect(page.blobs.map(\.name) == Self.expectedNames)
        #expect(page.blobs.map(\.size) == full.blobs.map(\.size) && full.blobs.contains { $0.size > 0 })
        #expect(page.blobs.allSatisfy { $0.contentMD5 == nil && $0.metadata.isEmpty })
        #expect(page.nextMarker != nil)
    }

    /// A delta pass tells changed blobs by Last-Modified, so a names-only listing keeps it.
    @Test func bothModesKeepLastModified() throws {
        for namesOnly in [true, false] {
            let page = try Self.parse(Self.document, chunk: 5, namesOnly: namesOnly)
            #expect(page.blobs.map(\.lastModified) == [Date(timeIntervalSince1970: 1_704_164_645), nil, nil, nil])
        }
    }

    @Test(arguments: ["<NextMarker />", "<NextMarker></NextMarker>", ""])
    func emptyOrMissingNextMarkerEndsTheListing(marker: String) throws {
        let body = Array(
            "<?xml version=\"1.0\"?><EnumerationResults><Blobs><Blob><Name>only</Name></Blob></Blobs>\(marker)</EnumerationResults>"
                .utf8)
        let page = try Self.parse(body, chunk: 1)
        #expect(page.blobs.map(\.name) == ["only"])
        #expect(page.nextMarker == nil)
    }

    @Test func emptyPageParses() throws {
        let page = try ListBlobsParser.parse(
            Array("<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>".utf8))
        #expect(page.blobs.isEmpty)
        #expect(page.nextMarker == nil)
    }

    /// Every proper prefix of a page is refused, however it is chunked: a cut connection
    /// must never look like a shorter last page.
    @Test func everyTruncationThrows() {
        for length in 0..<Self.document.count {
            Self.expectUnparseable(Array(Self.document[..<length]), chunk: 1 + length % 7, "prefix of \(length) bytes")
        }
    }

    @Test(arguments: [
        "",
        "not xml at all",
        "<EnumerationResults><Blobs><Blob><Name>x</Blob></Name></Blobs></EnumerationResults>",
        "<EnumerationResults><Blobs><Blob><Name>a &bogus; b</Name></Blob></Blobs></EnumerationResults>",
        "<EnumerationResults></EnumerationResults><Extra/>",
        "<EnumerationResults><Blobs><Blob><Name>\u{1}</Name></Blob></Blobs></EnumerationResults>",
        "<?xml version=\"1.0\"?><Error><Code>ServerBusy</Code></Error>",
        "<!DOCTYPE r [<!ENTITY e \"x\">]><EnumerationResults><Blobs><Blob><Name>&e;</Name></Blob></Blobs></EnumerationResults>",
    ])
    func malformedDocumentsThrow(body: String) {
        Self.expectUnparseable(Array(body.utf8))
        Self.expectUnparseable(Array(body.utf8), chunk: 1)
    }

    @Test func invalidUTF8Throws() {
        let body =
            Array("<EnumerationResults><Blobs><Blob><Name>".utf8) + [0xC3, 0x28]
            + Array("</Name></Blob></Blobs></EnumerationResults>".utf8)
        Self.expectUnparseable(body)
    }

    /// A full 5,000-blob page in curl-sized chunks equals the one-shot parse.
    @Test func fullPageInCurlSizedChunks() throws {
        var xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults><Blobs>"
        for index in 0..<5000 {
            xml += "<Blob><Name>dir-\(index % 63)/file &amp; \(index).bin</Name><Properties>"
            xml += "<Content-Length>\(index)</Content-Length></Properties></Blob>"
        }
        xml += "</Blobs><NextMarker>next</NextMarker></EnumerationResults>"
        let body = Array(xml.utf8)
        let page = try Self.parse(body, chunk: 16_384)
        #expect(page.blobs.count == 5000)
        #expect(page.blobs.last == BlobItem(name: "dir-\(4999 % 63)/file & 4999.bin", size: 4999))
        #expect(page.nextMarker == "next")
        #expect(try ListBlobsParser.parse(body).blobs == page.blobs)
    }
}
