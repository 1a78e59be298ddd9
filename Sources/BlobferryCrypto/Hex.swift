extension Sequence where Element == UInt8 {
    /// The bytes as lowercase hexadecimal, two digits per byte: the form SigV4 uses for
    /// payload hashes and signatures.
    public var hexString: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
