/// The failures a Fieldwork rule can report, independent of transport.
/// FieldworkRuntime maps each case to a gRPC status code (SPEC §0).
public enum DomainError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Bad input; `field` names the offending field (e.g. "location.latitude").
    case invalidArgument(field: String, message: String)
    case notFound(entity: String, id: String)
    /// The entity is in a state that does not allow the operation.
    case failedPrecondition(String)
    case alreadyExists(entity: String, id: String)
    case unauthenticated(String)
    case permissionDenied(String)
    /// A concurrent change got there first; the whole call may be retried.
    case aborted(String)

    public var description: String {
        switch self {
        case .invalidArgument(let field, let message): return "\(field): \(message)"
        case .notFound(let entity, let id): return "\(entity) '\(id)' not found"
        case .failedPrecondition(let message): return message
        case .alreadyExists(let entity, let id): return "\(entity) '\(id)' already exists"
        case .unauthenticated(let message): return message
        case .permissionDenied(let message): return message
        case .aborted(let message): return message
        }
    }
}
