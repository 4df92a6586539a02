import FieldworkDomain
import FieldworkProto
import Foundation
import GRPCCore
import SwiftProtobuf

/// Who may call one RPC (SPEC §8.1): the roles admitted before anything is
/// read, and, for the README, what the handler then lets each caller see or
/// change (§8.3). A role outside `roles` gets PERMISSION_DENIED.
public struct AccessRule: Sendable, Hashable {
    public var roles: Set<Role>
    /// The object rule the handler applies, in a few words; empty when the role decides everything.
    public var objects: String

    public init(_ roles: Set<Role>, objects: String = "") {
        self.roles = roles
        self.objects = objects
    }

    /// Only the listed roles.
    public static func only(_ roles: Role..., objects: String = "") -> AccessRule { AccessRule(Set(roles), objects: objects) }

    /// Every role a person may hold; the handler's object rule decides what each sees.
    public static func people(objects: String) -> AccessRule { AccessRule(Role.people, objects: objects) }

    /// Every person role that may change things (all but the read-only executive).
    public static func writers(objects: String) -> AccessRule { AccessRule(Role.people.subtracting([.executive]), objects: objects) }

    /// Event delivery between services; no person ever holds `service`.
    public static let service = AccessRule([.service])
    /// Scheduled jobs run on demand (`RunJob`).
    public static let admin = AccessRule([.admin])
}

extension Role {
    /// Every role but `service`.
    public static let people: Set<Role> = Set(allCases).subtracting([.service])
}

/// The rules of every RPC a server registers, keyed by method descriptor.
/// Deny by default: a method without a rule refuses every caller, and
/// `AccessRulesTests` fails the build's tests when one is missing.
public struct AccessRules: Sendable {
    /// Keyed by "package.Service/Method": a descriptor from the generated code
    /// carries the RPC's type, one from the wire or the schema may not.
    private var rules: [String: AccessRule]

    public init(_ rules: [MethodDescriptor: AccessRule]) {
        self.rules = Dictionary(rules.map { ($0.key.fullyQualifiedMethod, $0.value) }) { first, _ in first }
    }

    public subscript(method: MethodDescriptor) -> AccessRule? { rules[method.fullyQualifiedMethod] }

    /// The methods that have a rule, as "package.Service/Method".
    public var methods: Set<String> { Set(rules.keys) }

    public func allows(_ method: MethodDescriptor, _ principal: Principal) -> Bool {
        guard let rule = self[method] else { return false }
        return principal.hasAny(rule.roles)
    }

    /// Adds rules for methods of another registered service (e.g. the simulated clock).
    public func merging(_ other: [MethodDescriptor: AccessRule]) -> AccessRules {
        var merged = self
        for (method, rule) in other where merged[method] == nil { merged.rules[method.fullyQualifiedMethod] = rule }
        return merged
    }

    /// Every fieldwork service the schema declares, with its methods in declaration
    /// order: what the rules must cover, read from the descriptor set embedded by
    /// `Proto/generate.sh` so a method added to a .proto counts at once.
    public static func declaredMethods() throws -> [(service: String, methods: [MethodDescriptor])] {
        guard let data = Data(base64Encoded: FieldworkDescriptorSet.base64, options: .ignoreUnknownCharacters) else {
            throw DescriptorIndex.Malformed(description: "FieldworkDescriptorSet is not base64: run Proto/generate.sh")
        }
        var services: [(service: String, methods: [MethodDescriptor])] = []
        for file in try Google_Protobuf_FileDescriptorSet(serializedBytes: data).file where file.package.hasPrefix("fieldwork.") {
            for service in file.service {
                let name = "\(file.package).\(service.name)"
                services.append((name, service.method.map { MethodDescriptor(fullyQualifiedService: name, method: $0.name) }))
            }
        }
        return services
    }

    /// The README's table for one service, a row per RPC in the schema's order
    /// (`fieldwork-<service> --access-table`, spliced in by `make access-table`).
    public func markdown(service: String) throws -> String {
        let order = try Self.declaredMethods().first { $0.service == service }?.methods ?? []
        var lines = ["| \(service) | roles | objects |", "| --- | --- | --- |"]
        for method in order {
            guard let rule = self[method] else {
                lines.append("| \(method.method) | **none: refused to everyone** | |")
                continue
            }
            let roles = rule.roles == Role.people ? "every person"
                : rule.roles == Role.people.subtracting([.executive]) ? "every person but executive"
                : Role.allCases.filter(rule.roles.contains).map(\.rawValue).joined(separator: ", ")
            lines.append("| \(method.method) | \(roles) | \(rule.objects) |")
        }
        return lines.joined(separator: "\n")
    }
}
