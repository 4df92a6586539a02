import FieldworkDomain
@testable import FieldworkRuntime
import GRPCCore
import Testing

/// The status message travels percent-encoded in the `grpc-message` trailer.
@Suite struct StatusMessageTests {
    /// A not-found that echoed a 5 000-character id (45 KB percent-encoded)
    /// overflowed the client's 16 KiB header list: the call came back UNAVAILABLE.
    @Test func anEchoedHugeIdIsCutToFitTheTrailer() {
        let id = String(repeating: "长", count: 5_000)
        let status = RPCError.from(DomainError.notFound(entity: "visit", id: id), requestID: "r1")
        #expect(status.code == .notFound)
        #expect(status.message.hasPrefix("visit '长长"))
        #expect(status.message.hasSuffix("…"))
        let encoded = status.message.unicodeScalars.reduce(0) { $0 + ((0x20...0x7E).contains($1.value) && $1 != "%" ? 1 : 3 * UTF8.width($1)) }
        #expect(encoded <= RPCError.maximumTrailerMessageBytes)
    }

    @Test func anOrdinaryMessageIsUntouched() {
        let status = RPCError.from(DomainError.invalidArgument(field: "record.department", message: "is required"), requestID: "r1")
        #expect(status.message == "record.department: is required")
    }
}
