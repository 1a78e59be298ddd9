import CLibXML2

/// libxml2 must be initialised once, before threads use it; a global's initializer runs
/// exactly once, on first use.
private let libxml2Initialised: Void = xmlInitParser()

/// An element or attribute's local name (no prefix) as libxml2 reports it. The bytes are
/// borrowed from the parser for the duration of one callback: never store an `XMLName`.
/// Why borrowed: a List Blobs page has tens of thousands of elements, and a `String` per
/// name would cost more than parsing them; handlers compare bytes and build a `String` only
/// for the names they keep.
public struct XMLName {
    let bytes: UnsafeBufferPointer<UInt8>

    fileprivate init(_ name: UnsafePointer<xmlChar>?) {
        bytes = UnsafeBufferPointer(start: name, count: name.map { Int(xmlStrlen($0)) } ?? 0)
    }

    /// Byte-wise comparison with an ASCII literal, without building a String (the
    /// parser compares names tens of thousands of times per page).
    public func equals(_ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        return bytes.elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// The name as a `String` (a copy, safe to keep).
    public var string: String { String(decoding: bytes, as: UTF8.self) }
}

/// The attributes of one start tag, borrowed like `XMLName` for one callback.
/// libxml2's SAX2 layout: five pointers per attribute (local name, prefix, URI, value
/// start, value end); values are not NUL-terminated and have entities already replaced.
/// Why a view and not a dictionary: most tags' attributes are never read.
public struct XMLAttributes {
    fileprivate let base: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?
    fileprivate let count: Int

    /// The value of the attribute with local name `name`, if the tag has one.
    public func value(of name: StaticString) -> String? {
        guard let base else { return nil }
        for index in 0..<count {
            let fields = base + index * 5
            guard XMLName(fields[0]).equals(name), let start = fields[3], let end = fields[4] else { continue }
            return String(decoding: UnsafeBufferPointer(start: start, count: end - start), as: UTF8.self)
        }
        return nil
    }
}

/// What a document's events go to. Called on the thread that feeds the parser, in
/// document order; text may arrive in several `characters` calls for one element.
/// Why only three events: the documents blobferry reads (List Blobs pages, S3 results and
/// error bodies) need nothing else, and every argument is borrowed for one call (copy what
/// you keep).
public protocol XMLPushHandler: AnyObject {
    func startElement(_ name: XMLName, attributes: XMLAttributes)
    func characters(_ text: UnsafeBufferPointer<UInt8>)
    func endElement(_ name: XMLName)
}

/// Why a document was refused: not well-formed, truncated, empty, or carrying a DTD.
/// Callers turn it into their own error (a truncated listing page must never read as a
/// short one).
public struct XMLParseError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Owns one libxml2 SAX2 push parser context: bytes go in as they arrive (`feed`), events
/// come out to the handler, and no copy of the document is ever kept. Why not Foundation's
/// XMLParser: it needs the whole document in memory (and copies it twice more), and its
/// String-per-event delegate calls cost most of the producer's CPU.
///
/// Not thread-safe: one thread at a time (the engine thread while a body streams, then the
/// task that awaited it). The context is freed by `finish` or deinit; libxml2 sees this
/// object only as an unretained user-data pointer, valid because the context never
/// outlives it.
public final class XMLPushParser {
    private let handler: any XMLPushHandler
    private var context: xmlParserCtxtPtr?
    /// The first bytes, held until there are four: libxml2 detects the encoding (and a
    /// BOM) from the chunk the context is created with.
    private var head: [UInt8] = []
    /// The first error libxml2 or the parser reported; later input is ignored.
    private var failure: String?
    private var finished = false

    public init(handler: any XMLPushHandler) {
        _ = libxml2Initialised
        self.handler = handler
    }

    deinit { xmlFreeParserCtxt(context) }

    /// Parses the next bytes of the document. Errors are remembered for `finish`.
    public func feed(_ chunk: UnsafeRawBufferPointer) {
        guard failure == nil, !finished, !chunk.isEmpty else { return }
        if context == nil {
            head.append(contentsOf: chunk.bindMemory(to: UInt8.self))
            if head.count >= 4 { start() }
            return
        }
        push(chunk, terminate: false)
    }

    /// Ends the document; throws when it was not one complete, well-formed document.
    public func finish() throws {
        defer {
            finished = true
            xmlFreeParserCtxt(context)
            context = nil
        }
        if !finished, failure == nil {
            if context == nil { start() }
            push(UnsafeRawBufferPointer(start: nil, count: 0), terminate: true)
            if failure == nil, context?.pointee.wellFormed == 0 { failure = "the document is not well-formed" }
        }
        if let failure { throw XMLParseError(message: failure) }
    }

    private func start() {
        var sax = XMLPushParser.callbacks
        let userData = Unmanaged.passUnretained(self).toOpaque()
        let created = head.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) {
                xmlCreatePushParserCtxt(&sax, userData, $0.baseAddress, Int32($0.count), nil)
            }
        }
        head = []
        guard let created else {
            failure = "libxml2 could not create a parser"
            return
        }
        context = created
        // No network and no entity substitution: a listing needs neither.
        _ = xmlCtxtUseOptions(created, Int32(XML_PARSE_NONET.rawValue))
    }

    private func push(_ chunk: UnsafeRawBufferPointer, terminate: Bool) {
        guard let context else { return }
        // xmlParseChunk takes an Int32 size; curl's chunks are far smaller, whole bodies
        // (the `[UInt8]` entry points) need not be.
        var offset = 0
        repeat {
            let count = min(chunk.count - offset, 1 << 20)
            let last = terminate && offset + count == chunk.count
            let pointer = chunk.baseAddress.map { ($0 + offset).assumingMemoryBound(to: CChar.self) }
            let code = xmlParseChunk(context, pointer, Int32(count), last ? 1 : 0)
            if code != 0, failure == nil { failure = "libxml2 error \(code)" }
            if failure != nil { return }
            offset += count
        } while offset < chunk.count
    }

    fileprivate func fail(_ message: String) {
        if failure == nil { failure = message }
        if let context { xmlStopParser(context) }
    }

    // MARK: libxml2 callbacks (user data: this parser, unretained)

    private static func parser(_ userData: UnsafeMutableRawPointer?) -> XMLPushParser? {
        userData.map { Unmanaged<XMLPushParser>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Written once (a `let` initialised lazily and thread-safely by Swift) and only read
    /// after: libxml2 copies it into each parser context, so sharing it is safe although
    /// the C struct of function pointers cannot be declared `Sendable`.
    nonisolated(unsafe) private static let callbacks: xmlSAXHandler = {
        var sax = xmlSAXHandler()
        sax.initialized = UInt32(truncatingIfNeeded: XML_SAX2_MAGIC)
        sax.startElementNs = { userData, localName, _, _, _, _, attributeCount, _, attributes in
            guard let parser = XMLPushParser.parser(userData), parser.failure == nil else { return }
            parser.handler.startElement(
                XMLName(localName), attributes: XMLAttributes(base: attributes, count: Int(attributeCount)))
        }
        sax.endElementNs = { userData, localName, _, _ in
            guard let parser = XMLPushParser.parser(userData), parser.failure == nil else { return }
            parser.handler.endElement(XMLName(localName))
        }
        let characters: charactersSAXFunc = { userData, text, length in
            guard let parser = XMLPushParser.parser(userData), parser.failure == nil, let text, length > 0 else {
                return
            }
            parser.handler.characters(UnsafeBufferPointer(start: text, count: Int(length)))
        }
        sax.characters = characters
        sax.ignorableWhitespace = characters
        sax.cdataBlock = characters
        // A DOCTYPE could declare entities; no service response has one, so refuse it.
        sax.internalSubset = { userData, _, _, _ in
            XMLPushParser.parser(userData)?.fail("a document type declaration is not accepted")
        }
        // Structured errors replace libxml2's default of printing to stderr.
        sax.serror = { userData, error in
            guard let parser = XMLPushParser.parser(userData), let error,
                error.pointee.level.rawValue >= XML_ERR_ERROR.rawValue
            else { return }
            var message = error.pointee.message.map { String(cString: $0) } ?? "error \(error.pointee.code)"
            while message.last?.isWhitespace == true { message.removeLast() }
            parser.fail("line \(error.pointee.line): \(message)")
        }
        return sax
    }()
}
