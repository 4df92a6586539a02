import FieldworkDomain
import Testing

@Suite struct GeoTests {
    let zheyi = Geofence(center: GeoPosition(latitude: 30.2527, longitude: 120.1780), radiusMeters: 300)

    @Test func distanceMatchesAKnownPair() {
        // 0.01° of latitude is 1.112 km everywhere.
        let a = GeoPosition(latitude: 30.0, longitude: 120.0)
        let b = GeoPosition(latitude: 30.01, longitude: 120.0)
        #expect(abs(a.distance(to: b) - 1112) < 2)
        #expect(a.distance(to: a) == 0)
    }

    @Test func noCoordinatesIsVoid() {
        #expect(CheckInClassification.classify(position: nil, fence: zheyi) == .void(reason: "NO_LOCATION"))
    }

    @Test func insideTheFenceIsInRange() {
        let near = GeoPosition(latitude: 30.2530, longitude: 120.1785)
        guard case .inRange(let distance) = CheckInClassification.classify(position: near, fence: zheyi) else {
            Issue.record("expected in range")
            return
        }
        #expect(distance < 100)
    }

    @Test func twoKilometresAwayIsOutOfRangeWithTheDistance() {
        let far = GeoPosition(latitude: 30.2527 + 0.018, longitude: 120.1780)
        guard case .outOfRange(let distance) = CheckInClassification.classify(position: far, fence: zheyi) else {
            Issue.record("expected out of range")
            return
        }
        #expect(abs(distance - 2001) < 5)
    }

    @Test func theRadiusIsInclusive() {
        let fence = Geofence(center: GeoPosition(latitude: 0, longitude: 0), radiusMeters: 1112)
        let edge = GeoPosition(latitude: 0.01, longitude: 0)  // ≈ 1111.95 m
        #expect(CheckInClassification.classify(position: edge, fence: fence) != .outOfRange(distanceMeters: edge.distance(to: fence.center)))
    }

    @Test(arguments: [
        (91.0, 0.0, 0.0, "location.latitude"), (-90.5, 0.0, 0.0, "location.latitude"),
        (0.0, 180.1, 0.0, "location.longitude"), (0.0, 0.0, -1.0, "location.accuracy_m"),
        (Double.nan, 0.0, 0.0, "location.latitude"),
    ])
    func outOfBoundsCoordinatesNameTheField(latitude: Double, longitude: Double, accuracy: Double, field: String) {
        #expect {
            try GeoPosition(latitude: latitude, longitude: longitude, accuracyMeters: accuracy).validated(field: "location")
        } throws: { error in
            guard case DomainError.invalidArgument(let named, _) = error else { return false }
            return named == field
        }
    }
}
