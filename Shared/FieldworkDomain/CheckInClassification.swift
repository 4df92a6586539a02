/// How a check-in is classified from its position (SPEC §2.2).
public enum CheckInClassification: Equatable, Sendable {
    /// No coordinates: the record exists but never counts anywhere.
    case void(reason: String)
    /// Farther from the fence centre than its radius: saved, flagged, not counted.
    case outOfRange(distanceMeters: Double)
    case inRange(distanceMeters: Double)

    public static let noLocationReason = "NO_LOCATION"

    /// - Parameter position: nil when the device sent no coordinates.
    ///   A present position must already be validated.
    public static func classify(position: GeoPosition?, fence: Geofence) -> CheckInClassification {
        guard let position else { return .void(reason: noLocationReason) }
        let distance = position.distance(to: fence.center)
        return distance > Double(fence.radiusMeters) ? .outOfRange(distanceMeters: distance) : .inRange(distanceMeters: distance)
    }

    /// Window within which a repeated check-in returns the open visit.
    public static let repeatWindowSeconds: Double = 10 * 60
}
