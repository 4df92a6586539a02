import FieldworkProto
import Foundation
import Synchronization

/// The routes and the current template of each event type, kept for a moment:
/// every event would otherwise read the same rows twice. A save on this replica
/// clears it at once; other replicas see a change within `lifetime`.
final class MessageSetupCache: Sendable {
    struct Setup: Sendable {
        var routes: [Fieldwork_V1_Route]
        var template: (title: String, body: String, link: String)?
        var loadedAt: ContinuousClock.Instant
    }

    let lifetime: Duration
    private let entries = Mutex<[String: Setup]>([:])

    init(lifetime: Duration = .seconds(1)) { self.lifetime = lifetime }

    func setup(
        for eventType: String, load: () async throws -> (routes: [Fieldwork_V1_Route], template: (title: String, body: String, link: String)?)
    ) async throws -> Setup {
        let now = ContinuousClock.now
        if let cached = entries.withLock({ $0[eventType] }), now - cached.loadedAt < lifetime { return cached }
        let loaded = try await load()
        let setup = Setup(routes: loaded.routes, template: loaded.template, loadedAt: now)
        entries.withLock { $0[eventType] = setup }
        return setup
    }

    func clear() { entries.withLock { $0.removeAll() } }
}
