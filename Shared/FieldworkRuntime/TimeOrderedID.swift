import Foundation

extension UUID {
    /// A version 7 UUID (RFC 9562): the Unix time in milliseconds, then random
    /// bits. Ids made close in time sort close together, so a primary-key index
    /// takes new rows on its last pages instead of on random ones: fewer pages
    /// dirtied, and fewer written whole to the WAL after each checkpoint. For
    /// ids made on hot paths (visits, audit entries, events, inbox items): it
    /// is also cheaper to make than Foundation's `UUID()`, which on Linux opens,
    /// reads and closes /dev/urandom for every id.
    public static func timeOrdered(at date: Date = Date()) -> UUID {
        var generator = SystemRandomNumberGenerator()
        return timeOrdered(at: date, using: &generator)
    }

    public static func timeOrdered<G: RandomNumberGenerator>(at date: Date, using generator: inout G) -> UUID {
        let milliseconds = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        let high = (milliseconds << 16) | (generator.next() & 0x0fff) | 0x7000   // 48-bit time, version 7, 12 random bits
        let low = (generator.next() & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000   // variant 10, 62 random bits
        let h = high.bigEndian, l = low.bigEndian
        return withUnsafeBytes(of: (h, l)) { raw in
            UUID(uuid: (raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
                        raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]))
        }
    }
}
