import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PropertyBased
import SwiftProtobuf
import Testing

/// Generated requests for what every handler reads before its own rules: page
/// tokens, timestamps and free text. Any input is a value or an
/// `invalidArgument` naming the field, never a trap (a trap kills the service
/// for everyone; HealthHistory's `k:1e300` did).
@Suite struct RequestInputPropertyTests {
    /// Tokens as a client may forge them: random bytes, random text, and our own
    /// "k:" prefix followed by anything.
    static let forgedTokens = Gen.frequency(
        (weight: 1, gen: Gen.uint8().array(of: 0...64).map { Data($0).base64EncodedString() }.eraseToAnySequence()),
        (weight: 1, gen: RequestText.any.eraseToAnySequence()),
        (weight: 4, gen: RequestText.any.map { Data("k:\($0)".utf8).base64EncodedString() }.eraseToAnySequence()))

    @Test func anyPageTokenIsAKeyOrRefusedByName() async {
        await propertyCheck(count: 3_000, input: Self.forgedTokens) { token in
            var request = Fieldwork_V1_PageRequest()
            request.pageToken = token
            let refused = DomainError.invalidArgument(field: "page.page_token", message: "is not a token this server issued")
            let page: Page
            do { page = try Page(request) } catch {
                #expect(error as? DomainError == refused)
                return
            }
            #expect(!page.after.unicodeScalars.contains { $0.properties.generalCategory == .control })
            // Every key reader answers a bounded value or the same refusal.
            func check<Key>(_ read: () throws -> Key?, bounded: (Key) -> Bool) {
                do {
                    if let key = try read() { #expect(bounded(key), "\(key) from \(page.after.debugDescription)") }
                } catch {
                    #expect(error as? DomainError == refused)
                }
            }
            check(page.timeKey) { abs($0.at.timeIntervalSince1970) < 1e12 }
            check(page.instantKey) { abs($0.timeIntervalSince1970) < 1e12 }
            check(page.idKey) { _ in true }
            check(page.sequenceKey) { $0 >= 0 }
            check({ try page.offset() }) { (0...Int(Int32.max)).contains($0) }
        }
    }

    /// The token a page hands out reads back as the key it was made from.
    @Test func everyIssuedTokenReadsBackItsKey() async {
        let seconds = Gen.double(in: -62_135_596_800...253_402_300_799)
        let ids = Gen.uint8().array(of: 16).map { bytes in
            UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                        bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
        }
        await propertyCheck(count: 1_000, input: seconds, ids, Gen.int64(in: 0...Int64.max)) { seconds, id, sequence in
            let at = Date(timeIntervalSince1970: seconds)
            do {
                let time = try Self.reissued(Page.timeKey(at, id.uuidString)).timeKey()
                #expect(time?.at == at && time?.id == id)
                #expect(try Self.reissued(Page.instantKey(at)).instantKey() == at)
                #expect(try Self.reissued(id.uuidString).idKey() == id)
                #expect(try Self.reissued(String(sequence)).sequenceKey() == sequence)
            } catch {
                Issue.record("an issued token was refused: \(error)")
            }
        }
    }

    /// Page one of size 1 over two rows hands out the token for `key`; this reads it back.
    static func reissued(_ key: String) throws -> Page {
        var first = Fieldwork_V1_PageRequest()
        first.pageSize = 1
        let (_, response) = try Page(first).finish([key, "unused"]) { $0 }
        var next = Fieldwork_V1_PageRequest()
        next.pageToken = response.nextPageToken
        return try Page(next)
    }

    @Test func anyTimestampIsAnInstantInTheYearsOneTo9999OrRefusedByName() async {
        let seconds = Gen.frequency(
            (weight: 1, gen: Gen.int64(in: Int64.min...Int64.max)),
            (weight: 1, gen: Gen.int64(in: -62_135_769_700...253_402_300_900)))
        await propertyCheck(count: 3_000, input: seconds, Gen.int32(in: Int32.min...Int32.max)) { seconds, nanos in
            var timestamp = Google_Protobuf_Timestamp()
            timestamp.seconds = seconds
            timestamp.nanos = nanos
            do {
                let instant = try timestamp.instant(field: "visit.device_time")
                #expect(instant.timeIntervalSince1970.isFinite)
                #expect(instant >= Date.distantPast && instant < Date(timeIntervalSince1970: 253_402_300_800))
            } catch {
                #expect(error as? DomainError
                    == .invalidArgument(field: "visit.device_time", message: "must be a time in the years 1–9999"))
            }
        }
    }

    @Test func anyTextIsTrimmedAndBoundedOrRefusedByName() async {
        await propertyCheck(count: 3_000, input: RequestText.any, Gen.int(in: 0...50)) { text, max in
            do {
                let value = try Input.text(text, field: "record.objection_note", max: max)
                #expect(value.unicodeScalars.count <= max)
                #expect(value == text.trimmingCharacters(in: .whitespacesAndNewlines))
                #expect(!value.unicodeScalars.contains { $0 == "\u{0}" })
            } catch let DomainError.invalidArgument(field, _) {
                #expect(field == "record.objection_note")
            } catch {
                Issue.record("answered \(error)")
            }
        }
    }
}

/// Text from a confused or malicious client: the characters keys and numbers
/// are made of, white space of every kind, and anything from the whole of
/// Unicode, NUL and controls included.
enum RequestText {
    static let character = Gen.frequency(
        (weight: 6, gen: Gen<Character?>.element(of: Array("0123456789/.:-+eEnaif ABCDEF\t\n\u{3000}\u{00A0}") as [Character]).map { $0! }),
        (weight: 1, gen: Gen.ascii),
        (weight: 1, gen: Gen<UnicodeScalar>.unicodeScalar(in: "\u{0}"..."\u{D7FF}").map(Character.init)),
        (weight: 1, gen: Gen<UnicodeScalar>.unicodeScalar(in: "\u{E000}"..."\u{10FFFF}").map(Character.init)))

    static let any = Gen.frequency(
        (weight: 8, gen: character.string(of: 0...60).eraseToAnySequence()),
        (weight: 1, gen: Gen<String?>.element(of: [
            "nan", "inf", "-inf", "1e300", "-1e300", "1e12", "-0", "9223372036854775808", "-1", "2147483648",
            "1.5/00000000-0000-0000-0000-000000000000", "nan/00000000-0000-0000-0000-000000000000", "\u{0}", "",
        ]).map { $0! }.eraseToAnySequence()))
}
