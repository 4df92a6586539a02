/// Human-readable task-card numbers: `<PREFIX>-<yyyyMMdd>-<nnnn>`, e.g.
/// `GT-20260305-0007`, counted per prefix and business day (SPEC §3.1).
public struct CardNumber: Hashable, Sendable, CustomStringConvertible {
    public var prefix: String
    public var day: LocalDate
    public var sequence: Int

    public init(prefix: String, day: LocalDate, sequence: Int) {
        self.prefix = prefix
        self.day = day
        self.sequence = sequence
    }

    /// The sequence is zero-padded to at least this many digits.
    public static let minimumDigits = 4

    /// Everything before the sequence: `GT-20260305-`.
    public static func stem(prefix: String, day: LocalDate) -> String { "\(prefix)-\(day.compact)-" }

    public var description: String {
        let digits = String(sequence)
        return Self.stem(prefix: prefix, day: day) + String(repeating: "0", count: max(0, Self.minimumDigits - digits.count)) + digits
    }

    /// A prefix is 1–8 upper-case ASCII letters.
    public static func isValidPrefix(_ prefix: String) -> Bool {
        (1...8).contains(prefix.count) && prefix.allSatisfy { $0.isASCII && $0.isUppercase }
    }
}
