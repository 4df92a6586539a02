import FieldworkDomain
import FieldworkProto
import FieldworkRuntime

/// What one caller sees of the directory (SPEC §8.3). Everyone sees who people
/// are (id, name, department, region, roles, supervisor: routing and display
/// need them); a phone or WeCom id only the person, their supervisor chain,
/// their department's head and admin. Customers are seen in the caller's region
/// (and those owned by the caller's team); doctors' names and phones by the
/// owner, the owner's chain, the region's director and admin; the geofence by
/// ops and admin only, since the server checks positions and reps never need it.
struct DirectoryView: Sendable {
    let principal: Principal
    /// The caller, the people whose supervisor chain reaches the caller, and
    /// a department head's department.
    let below: Scope

    init(_ principal: Principal, in service: VisitsService) async throws {
        self.principal = principal
        var reach: Set<Reach> = [.team]
        if principal.has(.deptHead) { reach.insert(.department) }
        if principal.has(.admin) { reach.insert(.company) }
        below = try await Scope.of(
            principal, reach: reach, directory: .people, on: service.environment.postgres, logger: service.environment.logger)
    }

    var seesEveryCustomer: Bool { principal.hasAny([.admin, .executive]) }

    /// The SQL filter of `DirectoryStore.listCustomers`: the caller's region and their team's customers.
    var customerFilter: DirectoryStore.CustomerFilter {
        DirectoryStore.CustomerFilter(everyone: seesEveryCustomer, region: principal.region, owners: below.everyone ? [] : below.people)
    }

    func sees(_ customer: CustomerRecord) -> Bool {
        seesEveryCustomer || (!principal.region.isEmpty && customer.region == principal.region) || below.includes(customer.ownerRepID)
    }

    func person(_ person: Fieldwork_V1_Person) -> Fieldwork_V1_Person {
        guard !below.includes(person.id) else { return person }
        var shown = person
        shown.phone = ""
        shown.wecomUserID = ""
        return shown
    }

    func customer(_ customer: Fieldwork_V1_Customer) -> Fieldwork_V1_Customer {
        var shown = customer
        let directsRegion = principal.has(.director) && !principal.region.isEmpty && customer.region == principal.region
        if !(principal.has(.admin) || below.includes(customer.ownerRepID) || directsRegion) {
            shown.contacts = []
        }
        if !principal.hasAny([.admin, .ops]) {
            shown.clearFenceCenter()
            shown.fenceRadiusM = 0
        }
        return shown
    }
}
