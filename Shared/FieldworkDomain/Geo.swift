import Foundation

/// A device-reported position. Validation follows SPEC §2.2.
public struct GeoPosition: Equatable, Sendable {
    public var latitude: Double
    public var longitude: Double
    public var accuracyMeters: Double

    public init(latitude: Double, longitude: Double, accuracyMeters: Double = 0) {
        self.latitude = latitude
        self.longitude = longitude
        self.accuracyMeters = accuracyMeters
    }

    /// Throws `invalidArgument` naming the field under `prefix` (e.g. "location").
    public func validated(field prefix: String) throws -> GeoPosition {
        guard latitude.isFinite, abs(latitude) <= 90 else {
            throw DomainError.invalidArgument(field: "\(prefix).latitude", message: "must be within [-90, 90], got \(latitude)")
        }
        guard longitude.isFinite, abs(longitude) <= 180 else {
            throw DomainError.invalidArgument(field: "\(prefix).longitude", message: "must be within [-180, 180], got \(longitude)")
        }
        guard accuracyMeters.isFinite, accuracyMeters >= 0 else {
            throw DomainError.invalidArgument(field: "\(prefix).accuracy_m", message: "must not be negative, got \(accuracyMeters)")
        }
        return self
    }

    /// Great-circle distance in metres (haversine on a mean Earth radius);
    /// within a few metres of the ellipsoidal distance at geofence scales.
    public func distance(to other: GeoPosition) -> Double {
        let earthRadius = 6_371_008.8
        let φ1 = latitude * .pi / 180, φ2 = other.latitude * .pi / 180
        let Δφ = (other.latitude - latitude) * .pi / 180
        let Δλ = (other.longitude - longitude) * .pi / 180
        let a = sin(Δφ / 2) * sin(Δφ / 2) + cos(φ1) * cos(φ2) * sin(Δλ / 2) * sin(Δλ / 2)
        return 2 * earthRadius * atan2(sqrt(a), sqrt(1 - a))
    }
}

/// A customer's geofence: a centre and a radius (default 300 m).
public struct Geofence: Equatable, Sendable {
    public static let defaultRadiusMeters = 300

    public var center: GeoPosition
    public var radiusMeters: Int

    public init(center: GeoPosition, radiusMeters: Int = Geofence.defaultRadiusMeters) {
        self.center = center
        self.radiusMeters = radiusMeters
    }
}
