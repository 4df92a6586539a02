import CSV
import FieldworkDomain
import Foundation

/// CSV bulk files (UTF-8, header row), read and written with CSV.swift.
public enum CsvFile {
    public static let maximumBytes = 8 * 1024 * 1024

    /// Reads `content` into rows keyed by header. The header must contain every
    /// `required` column; unknown columns are refused so a typo is not silently ignored.
    /// Line numbers count the header as line 1 (a quoted field spanning lines shifts later numbers).
    public static func read(_ content: [UInt8], columns: [String], required: [String]) throws -> [CsvRow] {
        guard content.count <= maximumBytes else {
            throw DomainError.invalidArgument(field: "content", message: "larger than \(maximumBytes / 1024 / 1024) MiB")
        }
        var bytes = content[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }  // Excel's UTF-8 byte-order mark
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw DomainError.invalidArgument(field: "content", message: "is not UTF-8 (save the sheet as 'CSV UTF-8')")
        }
        let reader: CSVReader
        do {
            reader = try CSVReader(string: text, hasHeaderRow: true, trimFields: true)
        } catch {
            throw DomainError.invalidArgument(field: "content", message: "is not readable CSV: \(error)")
        }
        guard let header = reader.headerRow, !header.isEmpty, header != [""] else {
            throw DomainError.invalidArgument(field: "content", message: "has no header row")
        }
        var errors: [CsvRowError] = []
        for (index, name) in header.enumerated() where !columns.contains(name) {
            errors.append(CsvRowError(line: 1, column: name.isEmpty ? "#\(index + 1)" : name,
                                      message: "unknown column; expected \(columns.joined(separator: ","))"))
        }
        for name in required where !header.contains(name) {
            errors.append(CsvRowError(line: 1, column: name, message: "required column is missing"))
        }
        guard errors.isEmpty else { throw CsvImportRefused(errors: errors) }
        var rows: [CsvRow] = []
        var line = 1
        while let fields = reader.next() {
            line += 1
            if fields.allSatisfy(\.isEmpty) { continue }  // blank line
            guard fields.count == header.count else {
                errors.append(CsvRowError(line: line, column: "*", message: "has \(fields.count) fields, the header has \(header.count)"))
                continue
            }
            rows.append(CsvRow(line: line, values: Dictionary(zip(header, fields), uniquingKeysWith: { first, _ in first })))
        }
        guard errors.isEmpty else { throw CsvImportRefused(errors: errors) }
        return rows
    }

    /// Parses every row with `parse`, collecting all row errors and refusing duplicates of `key`.
    public static func records<Record>(
        _ rows: [CsvRow], key: (Record) -> String, keyColumn: String = "id", parse: (CsvRow) throws -> Record
    ) throws -> [(line: Int, record: Record)] {
        var errors: [CsvRowError] = []
        var records: [(Int, Record)] = []
        var firstLine: [String: Int] = [:]
        for row in rows {
            do {
                let record = try parse(row)
                if let earlier = firstLine[key(record)] {
                    errors.append(CsvRowError(line: row.line, column: keyColumn, message: "'\(key(record))' already appears on line \(earlier)"))
                } else {
                    firstLine[key(record)] = row.line
                    records.append((row.line, record))
                }
            } catch let error as CsvRowError {
                errors.append(error)
            }
        }
        guard errors.isEmpty else { throw CsvImportRefused(errors: errors) }
        return records
    }

    public static func write(header: [String], rows: [[String]]) throws -> [UInt8] {
        let stream = OutputStream(toMemory: ())
        let writer = try CSVWriter(stream: stream)
        try writer.write(row: header)
        for row in rows {
            writer.beginNewRow()
            try writer.write(row: row)
        }
        writer.stream.close()
        guard let data = stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data else { return [] }
        return Array(data)
    }
}
