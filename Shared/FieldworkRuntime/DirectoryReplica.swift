import FieldworkProto
import Foundation
import Logging
import PostgresNIO

/// Keeps a consumer's read-only copy of the directory (RuntimeSchema.directoryReplica)
/// in step with the visits service's directory events. Events carry the whole
/// entity, so applying one is an upsert, and only a change at least as new as the
/// copy's is applied: a redriven or late older event leaves a newer copy alone.
public enum DirectoryReplica {
    /// Applies a directory event; returns false for any other event type.
    @discardableResult
    public static func apply(_ event: Fieldwork_V1_Event, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        switch event.payload {
        case .personChanged(let change):
            let p = change.person
            try await connection.query(
                """
                INSERT INTO directory_people (id, name, department, region, supervisor_id, roles, wecom_user_id, active, updated_at)
                VALUES (\(p.id), \(p.name), \(p.department), \(p.region), \(p.supervisorID), \(p.roles), \(p.wecomUserID),
                        \(p.active), \(p.updatedAt.date))
                ON CONFLICT (id) DO UPDATE SET name = excluded.name, department = excluded.department, region = excluded.region,
                    supervisor_id = excluded.supervisor_id, roles = excluded.roles, wecom_user_id = excluded.wecom_user_id,
                    active = excluded.active, updated_at = excluded.updated_at
                WHERE directory_people.updated_at <= excluded.updated_at
                """, logger: logger)
        case .departmentChanged(let change):
            let d = change.department
            try await connection.query(
                """
                INSERT INTO directory_departments (code, name, head_person_id, changed_at)
                VALUES (\(d.code), \(d.name), \(d.headPersonID), \(event.occurredAt.date))
                ON CONFLICT (code) DO UPDATE SET name = excluded.name, head_person_id = excluded.head_person_id, changed_at = excluded.changed_at
                WHERE directory_departments.changed_at <= excluded.changed_at
                """, logger: logger)
        case .customerChanged(let change):
            let c = change.customer
            try await connection.query(
                """
                INSERT INTO directory_customers (id, name, region, level, owner_rep_id, grade, updated_at)
                VALUES (\(c.id), \(c.name), \(c.region), \(c.level), \(c.ownerRepID), \(c.grade), \(c.updatedAt.date))
                ON CONFLICT (id) DO UPDATE SET name = excluded.name, region = excluded.region, level = excluded.level,
                    owner_rep_id = excluded.owner_rep_id, grade = excluded.grade, updated_at = excluded.updated_at
                WHERE directory_customers.updated_at <= excluded.updated_at
                """, logger: logger)
        case .productChanged(let change):
            let p = change.product
            try await connection.query(
                """
                INSERT INTO directory_products (id, name, product_line, active, changed_at)
                VALUES (\(p.id), \(p.name), \(p.productLine), \(p.active), \(event.occurredAt.date))
                ON CONFLICT (id) DO UPDATE SET name = excluded.name, product_line = excluded.product_line, active = excluded.active,
                    changed_at = excluded.changed_at
                WHERE directory_products.changed_at <= excluded.changed_at
                """, logger: logger)
        default:
            return false
        }
        return true
    }

    /// Active people of a department, from the copy.
    public static func members(of department: String, on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        var ids: [String] = []
        let rows = try await connection.query(
            "SELECT id FROM directory_people WHERE department = \(department) AND active ORDER BY id", logger: logger)
        for try await id in rows.decode(String.self) { ids.append(id) }
        return ids
    }
}
