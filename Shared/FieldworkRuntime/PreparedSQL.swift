import PostgresNIO

/// A statement written as a `PostgresQuery` interpolation, like every other,
/// and run as a named prepared statement: PostgreSQL parses and plans it once
/// per connection instead of on every call. For the hot paths, where parsing
/// and planning cost as much as running the statement.
///
/// Its text must not depend on the values: interpolate values only (and
/// `unescaped:` constants). A conforming type declares
/// `static let sql = example.query.sql` from any instance, and a `name` unique
/// among the service's prepared statements. A nullable value that may be nil
/// on a connection's first call needs a cast in the text (`\(value)::float8`),
/// as the statement is prepared with the first call's parameter types.
public protocol PreparedSQL: PostgresPreparedStatement where Row == PostgresRow {
    var query: PostgresQuery { get }
}

extension PreparedSQL {
    public func makeBindings() throws -> PostgresBindings { query.binds }

    public func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}
