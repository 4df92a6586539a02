import NIOCore

/// Rows in PostgreSQL's COPY text format, for `PostgresConnection.copyFrom`:
/// columns separated by tabs, one row per line, and the four characters that
/// would break that framing escaped with a backslash. Values are given as the
/// text PostgreSQL's input function for the column reads (`t`/`f`, `{P,T}`,
/// `82.5`); there is no NULL here (it would be `\N`).
public enum CopyText {
    public static func appendRow(_ values: [String], to buffer: inout ByteBuffer) {
        for (index, value) in values.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
            appendEscaped(value, to: &buffer)
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    static func appendEscaped(_ value: String, to buffer: inout ByteBuffer) {
        let utf8 = value.utf8
        // The common case, nothing to escape: one copy.
        guard utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") })
        else {
            buffer.writeString(value)
            return
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            default: buffer.writeInteger(byte)
            }
        }
    }
}
