import FieldworkDomain
import GRPCCore
import PostgresNIO

extension DomainError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch self {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .failedPrecondition: .failedPrecondition
        case .alreadyExists: .alreadyExists
        case .unauthenticated: .unauthenticated
        case .permissionDenied: .permissionDenied
        case .aborted: .aborted
        }
    }

    public var rpcErrorMessage: String { description }
}

extension CsvRowError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code { .invalidArgument }
    public var rpcErrorMessage: String { description }
}

/// Several CSV errors at once: the file was refused as a whole.
public struct CsvImportRefused: Error, RPCErrorConvertible {
    public var errors: [CsvRowError]

    public init(errors: [CsvRowError]) { self.errors = errors }

    public var rpcErrorCode: RPCError.Code { .invalidArgument }
    public var rpcErrorMessage: String {
        let shown = errors.prefix(20).map(\.description).joined(separator: "; ")
        let more = errors.count > 20 ? "; … \(errors.count - 20) more" : ""
        return "nothing imported, \(errors.count) bad row(s): \(shown)\(more)"
    }
}

extension RPCError {
    /// The error a handler originally threw, under the server's and the transaction's wrappers:
    /// the server wraps it as UNKNOWN with the original as cause; a transaction keeps the
    /// closure's own error, else why BEGIN or COMMIT failed (e.g. the server went away).
    static func rootCause(of error: any Error) -> any Error {
        if let error = error as? RPCError, error.code == .unknown, let cause = error.cause { return rootCause(of: cause) }
        if let error = error as? PostgresTransactionError, let cause = error.closureError ?? error.commitError ?? error.beginError {
            return rootCause(of: cause)
        }
        return error
    }

    /// Maps an error a handler threw to what the client sees. Anything that is not
    /// already an RPC error is an internal fault: the client gets a generic message
    /// with the request id, the log gets the detail.
    static func from(_ error: any Error, requestID: String) -> RPCError {
        mapped(error, requestID: requestID).fittingTrailer()
    }

    private static func mapped(_ error: any Error, requestID: String) -> RPCError {
        let error = rootCause(of: error)
        if let error = error as? RPCError { return error }
        if let error = error as? any RPCErrorConvertible { return RPCError(error) }
        if let error = error as? PSQLError, error.isConnectionLoss {
            // Retryable: a command retried with the same request_id is answered once (a connection lost
            // during COMMIT leaves the outcome unknown to us, not to the stored answer).
            return RPCError(
                code: .unavailable, message: "the database connection was lost; retry with the same request_id (request id \(requestID))")
        }
        if let error = error as? PSQLError, error.serverInfo?[.sqlState] == PostgresError.Code.queryCanceled.raw {
            return RPCError(code: .deadlineExceeded, message: "a database statement ran past its time limit (request id \(requestID))")
        }
        if let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] {
            // A race the handler's own checks could not see, e.g. two creates of one id.
            if state == PostgresError.Code.uniqueViolation.raw {
                return RPCError(code: .alreadyExists, message: "a record with the same key already exists")
            }
            if state == PostgresError.Code.serializationFailure.raw || state == PostgresError.Code.deadlockDetected.raw {
                return RPCError(code: .aborted, message: "concurrent update, retry (request id \(requestID))")
            }
        }
        if error is CancellationError { return RPCError(code: .cancelled, message: "cancelled") }
        return RPCError(code: .internalError, message: "internal error (request id \(requestID))")
    }
}

extension PSQLError {
    /// The connection broke or the server is going away (restart, failover,
    /// shutdown, too many connections): a retryable condition, never INTERNAL.
    var isConnectionLoss: Bool {
        switch code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed:
            return true
        case .server:
            guard let state = serverInfo?[.sqlState] else { return false }
            // Class 08: connection exception; 57P01-57P03: admin or crash shutdown, cannot connect now;
            // 53300: too many connections; 25P03: idle-in-transaction timeout (the server closed the session).
            return state.hasPrefix("08") || ["57P01", "57P02", "57P03", "53300", "25P03"].contains(state)
        default:
            return false
        }
    }
}

extension RPCError {
    /// What the status message may take in the `grpc-message` trailer, percent-encoded.
    static let maximumTrailerMessageBytes = 4096

    /// The status message, cut to fit its trailer. It is sent percent-encoded (a
    /// Chinese character takes 9 bytes), and one that echoed a client's 5 000-character
    /// id overflowed the client's 16 KiB header list: the call arrived as a dropped
    /// stream (UNAVAILABLE) instead of its status, and with the calls beside it on
    /// the same connection.
    func fittingTrailer() -> RPCError {
        var bytes = 0
        var end = message.unicodeScalars.startIndex
        for index in message.unicodeScalars.indices {
            let scalar = message.unicodeScalars[index]
            // grpc-message keeps printable ASCII but '%' as is (gRPC's HTTP/2 protocol).
            bytes += (0x20...0x7E).contains(scalar.value) && scalar != "%" ? 1 : 3 * UTF8.width(scalar)
            if bytes > Self.maximumTrailerMessageBytes - 9 { break }
            end = message.unicodeScalars.index(after: index)
        }
        guard end < message.unicodeScalars.endIndex else { return self }
        var cut = self
        cut.message = String(message.unicodeScalars[..<end]) + "…"
        return cut
    }
}
