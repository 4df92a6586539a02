import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import GRPCCore
import NotificationsService
import ScoringService
import Testing
import VisitsService
import WorkflowsService

/// SPEC §8.1: every RPC of every service in Proto/ has exactly one access rule,
/// and nothing but `Deliver` admits the `service` role. Read from the embedded
/// descriptor set, not from the generated Swift, so a method added to a .proto
/// fails here until someone writes its rule.
@Suite struct AccessRulesTests {
    /// Which rules govern each service: a blueprint's, or the runtime's for the simulated clock.
    static let rules: [String: [MethodDescriptor: AccessRule]] = {
        var rules: [String: [MethodDescriptor: AccessRule]] = [:]
        for blueprint in [VisitsBlueprint.blueprint, WorkflowsBlueprint.blueprint, ScoringBlueprint.blueprint, NotificationsBlueprint.blueprint] {
            rules[blueprint.grpcServiceName] = blueprint.access
        }
        rules[Fieldwork_V1_SimulationClock.descriptor.fullyQualifiedService] = AccessRules.simulationClock
        return rules
    }()

    /// A descriptor as the server sees it on the wire: no RPC type.
    static func untyped(_ method: MethodDescriptor) -> MethodDescriptor { MethodDescriptor(service: method.service, method: method.method) }

    @Test func everyDeclaredMethodHasARuleAndEveryRuleADeclaredMethod() throws {
        let declared = try AccessRules.declaredMethods()
        #expect(declared.count == 5, "services in Proto/: \(declared.map(\.service))")
        var missing: [String] = []
        var stray: [String] = []
        for (service, methods) in declared {
            let rules = AccessRules(Self.rules[service] ?? [:])
            missing += methods.filter { rules[Self.untyped($0)] == nil }.map(\.fullyQualifiedMethod)
            stray += rules.methods.subtracting(methods.map(\.fullyQualifiedMethod))
        }
        #expect(missing.isEmpty, "RPCs without an access rule (refused to everyone): \(missing.sorted())")
        #expect(stray.isEmpty, "rules for RPCs the schema does not declare: \(stray.sorted())")
    }

    @Test func onlyDeliverAdmitsServicesAndOnlyServicesMayDeliver() {
        for (_, rules) in Self.rules {
            for (method, rule) in rules {
                if method.method == "Deliver" {
                    #expect(rule.roles == [.service], "\(method)")
                } else {
                    #expect(!rule.roles.contains(.service), "\(method) admits service tokens")
                }
            }
        }
    }

    @Test func aMethodWithoutARuleRefusesEveryone() {
        let known = MethodDescriptor(fullyQualifiedService: "fieldwork.v1.Test", method: "Known")
        let unknown = MethodDescriptor(fullyQualifiedService: "fieldwork.v1.Test", method: "Unknown")
        let rules = AccessRules([known: .people(objects: "")])
        for role in Role.allCases {
            let principal = Principal(personID: "P1", roles: [role])
            #expect(!rules.allows(unknown, principal), "\(role) passed a method without a rule")
            #expect(rules.allows(known, principal) == (role != .service))
        }
    }
}
