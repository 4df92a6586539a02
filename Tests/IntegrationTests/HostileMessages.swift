import FieldworkProto
import Foundation
import GRPCCore
import SwiftProtobuf
import Testing

/// Request messages a confused or malicious client could send to any RPC, built
/// from the schema itself (the embedded descriptor set), so every method of
/// every service gets them and a new RPC is covered without a line here.
///
/// Each variant sets *every* field of the request, and of the messages inside
/// it, to one kind of trouble, written as raw protobuf wire bytes (invalid UTF-8
/// cannot be expressed through the generated Swift types).
struct HostileMessages {
    enum Variant: String, CaseIterable, Sendable {
        /// NaN floats, -1 integers, NaN as text, nanos -1.
        case notANumber
        /// The largest numbers, infinities, an unknown enum value, 5 000-character
        /// text (past every field's limit), timestamps at Int64.max.
        case huge
        /// NUL, escape and other control characters in every text.
        case controlCharacters
        /// Text fields holding bytes that are not UTF-8.
        case invalidUTF8
        /// Timestamps at 0001-01-01T00:00:00Z and days "0001-01-01".
        case yearOne
        /// Timestamps at 9999-12-31T23:59:59Z and days "9999-12-31".
        case year9999
        /// 100 000 elements in every repeated field of the request (as many as
        /// fit in 3 MiB when one element is larger than 30 bytes).
        case repeated100k
    }

    private var messages: [String: Google_Protobuf_DescriptorProto] = [:]
    private var inputTypes: [String: String] = [:]
    private var serverStreaming: Set<String> = []

    init() throws {
        let data = try #require(Data(base64Encoded: FieldworkDescriptorSet.base64, options: .ignoreUnknownCharacters))
        for file in try Google_Protobuf_FileDescriptorSet(serializedBytes: data).file {
            func index(_ message: Google_Protobuf_DescriptorProto, prefix: String) {
                let name = "\(prefix).\(message.name)"
                messages[name] = message
                for nested in message.nestedType { index(nested, prefix: name) }
            }
            for message in file.messageType { index(message, prefix: file.package.isEmpty ? "" : ".\(file.package)") }
            for service in file.service {
                for method in service.method {
                    let name = "\(file.package).\(service.name)/\(method.name)"
                    inputTypes[name] = method.inputType
                    if method.serverStreaming { serverStreaming.insert(name) }
                }
            }
        }
    }

    /// The request of `method` with every field set to `variant`'s trouble.
    func request(_ method: MethodDescriptor, _ variant: Variant) throws -> [UInt8] {
        let input = try #require(inputTypes["\(method.service.fullyQualifiedService)/\(method.method)"], "\(method) has no input type")
        return try message(input, variant, depth: 0)
    }

    /// Whether `method` streams its answers (and may stay open until the deadline).
    func streamsAnswers(_ method: MethodDescriptor) -> Bool {
        serverStreaming.contains("\(method.service.fullyQualifiedService)/\(method.method)")
    }

    /// Nested messages are filled two levels deep: enough to reach the
    /// timestamps and records inside a request, small enough to stay under the
    /// transport's message limit (which is issue 27's, not this test's).
    private func message(_ typeName: String, _ variant: Variant, depth: Int) throws -> [UInt8] {
        if typeName == ".google.protobuf.Timestamp" { return timestamp(variant) }
        guard depth <= 2 else { return [] }
        let message = try #require(messages[typeName], "\(typeName) is not in the descriptor set")
        var bytes: [UInt8] = []
        for field in message.field {
            let value = try self.value(field, variant, depth: depth)
            let count = switch (field.label == .repeated, variant == .repeated100k && depth == 0) {
            case (false, _): 1
            case (true, false): 2
            case (true, true): min(100_000, 3 << 20 / max(1, value.count))
            }
            for _ in 0..<count { bytes += value }
        }
        return bytes
    }

    /// One encoded occurrence of `field` (tag and value).
    private func value(_ field: Google_Protobuf_FieldDescriptorProto, _ variant: Variant, depth: Int) throws -> [UInt8] {
        let number = Int(field.number)
        switch field.type {
        case .double:
            let value: Double = switch variant {
            case .notANumber: .nan
            case .huge: .infinity
            case .repeated100k, .yearOne, .year9999: 1
            case .controlCharacters, .invalidUTF8: -.greatestFiniteMagnitude
            }
            return Wire.tag(number, .fixed64) + Wire.fixed64(value.bitPattern)
        case .float:
            let value: Float = variant == .notANumber ? .nan : variant == .huge ? -.infinity : 1
            return Wire.tag(number, .fixed32) + Wire.fixed32(value.bitPattern)
        case .int64, .uint64, .int32, .uint32, .enum:
            let value: UInt64 = switch variant {
            case .notANumber: UInt64(bitPattern: -1)
            case .huge: field.type == .int64 || field.type == .uint64 ? UInt64(Int64.max) : UInt64(Int32.max)
            default: 1
            }
            return Wire.tag(number, .varint) + Wire.varint(value)
        case .sint32, .sint64:
            return Wire.tag(number, .varint) + Wire.varint(variant == .huge ? UInt64.max : 1)
        case .fixed64, .sfixed64:
            return Wire.tag(number, .fixed64) + Wire.fixed64(variant == .huge ? UInt64.max : 1)
        case .fixed32, .sfixed32:
            return Wire.tag(number, .fixed32) + Wire.fixed32(variant == .huge ? UInt32.max : 1)
        case .bool:
            return Wire.tag(number, .varint) + Wire.varint(1)
        case .string:
            return Wire.tag(number, .lengthDelimited) + Wire.delimited(text(variant))
        case .bytes:
            return Wire.tag(number, .lengthDelimited) + Wire.delimited(variant == .huge ? Array(repeating: 0xFF, count: 15_000) : [0, 0xFF])
        case .message:
            return Wire.tag(number, .lengthDelimited) + Wire.delimited(try message(field.typeName, variant, depth: depth + 1))
        case .group:
            return []
        }
    }

    private func text(_ variant: Variant) -> [UInt8] {
        switch variant {
        case .notANumber: Array("NaN".utf8)
        case .huge: Array(String(repeating: "长", count: 5_000).utf8)
        case .controlCharacters: Array("a\u{0}b\u{1B}[31m\u{7F}".utf8)
        case .invalidUTF8: [0x66, 0xFF, 0xC3, 0x28, 0xED, 0xA0, 0x80]
        case .yearOne: Array("0001-01-01".utf8)
        case .year9999: Array("9999-12-31".utf8)
        case .repeated100k: Array("x".utf8)
        }
    }

    private func timestamp(_ variant: Variant) -> [UInt8] {
        let (seconds, nanos): (Int64, Int32) = switch variant {
        case .notANumber: (0, -1)
        case .huge: (Int64.max, 999_999_999)
        case .yearOne: (-62_135_596_800, 0)
        case .year9999: (253_402_300_799, 999_999_999)
        default: (1, 0)
        }
        return Wire.tag(1, .varint) + Wire.varint(UInt64(bitPattern: seconds))
            + Wire.tag(2, .varint) + Wire.varint(UInt64(bitPattern: Int64(nanos)))
    }
}

/// The few pieces of the protobuf wire format the hostile messages need.
enum Wire {
    enum Kind: UInt64 { case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5 }

    static func tag(_ number: Int, _ kind: Kind) -> [UInt8] { varint(UInt64(number) << 3 | kind.rawValue) }

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value, bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        return bytes + [UInt8(value)]
    }

    static func fixed64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
    static func fixed32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
    static func delimited(_ bytes: [UInt8]) -> [UInt8] { varint(UInt64(bytes.count)) + bytes }
}
