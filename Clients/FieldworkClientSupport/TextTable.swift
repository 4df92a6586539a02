import Foundation

/// Left-aligned columns for a terminal, widths by display width (CJK characters
/// and full-width forms count double); "(none)" under the header when empty.
public func table(_ header: [String], _ rows: [[String]]) -> String {
    func width(_ s: String) -> Int {
        s.unicodeScalars.reduce(0) { total, scalar in
            let wide = (scalar.value >= 0x1100 && scalar.properties.isIdeographic) || (0xFF00...0xFFEF).contains(scalar.value)
                || (0x3000...0x303F).contains(scalar.value)
            return total + (wide ? 2 : 1)
        }
    }
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { width($0[column]) }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { $1 + String(repeating: " ", count: widths[$0] - width($1)) }.joined(separator: "  ")
            .trimmingCharacters(in: .whitespaces)
    }
    var lines = [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
    lines += rows.map(line)
    if rows.isEmpty { lines.append("(none)") }
    return lines.joined(separator: "\n")
}
