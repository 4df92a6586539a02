import Foundation

/// What a card attachment may be (SPEC §3.3): a size limit enforced while the
/// upload streams, declared content types from an allow-list, and — for the
/// formats that have one — a first-bytes signature that must match the declared
/// type, so a renamed executable is not stored as a "photo".
public struct AttachmentPolicy: Sendable {
    public static let defaultMaxBytes = 20 * 1024 * 1024

    public var maxBytes: Int

    public init(maxBytes: Int = Self.defaultMaxBytes) {
        self.maxBytes = maxBytes
    }

    /// Allowed content types and the signatures their bytes start with (empty: no check).
    public static let allowedTypes: [String: [[UInt8]]] = [
        "image/jpeg": [[0xFF, 0xD8, 0xFF]],
        "image/png": [[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]],
        "image/gif": [Array("GIF87a".utf8), Array("GIF89a".utf8)],
        "image/webp": [Array("RIFF".utf8)],
        "image/heic": [],
        "application/pdf": [Array("%PDF-".utf8)],
        // Office Open XML is a ZIP container; the legacy formats are OLE2 compound files.
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": [[0x50, 0x4B, 0x03, 0x04]],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": [[0x50, 0x4B, 0x03, 0x04]],
        "application/vnd.openxmlformats-officedocument.presentationml.presentation": [[0x50, 0x4B, 0x03, 0x04]],
        "application/msword": [[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]],
        "application/vnd.ms-excel": [[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]],
        "application/vnd.ms-powerpoint": [[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]],
    ]

    /// The normalised content type (lower case, parameters dropped), or `invalidArgument`.
    public func contentType(_ declared: String) throws -> String {
        let type = declared.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard Self.allowedTypes[type] != nil else {
            throw DomainError.invalidArgument(
                field: "header.content_type",
                message: "'\(declared)' is not allowed; allowed: \(Self.allowedTypes.keys.sorted().joined(separator: ", "))")
        }
        return type
    }

    /// A file name safe to show and to put in a download header: no path, no control characters.
    public func fileName(_ name: String) throws -> String {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw DomainError.invalidArgument(field: "header.file_name", message: "is required") }
        guard trimmed.count <= 200 else { throw DomainError.invalidArgument(field: "header.file_name", message: "at most 200 characters") }
        guard !trimmed.contains("/"), !trimmed.contains("\\"), trimmed != ".", trimmed != "..",
              !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw DomainError.invalidArgument(field: "header.file_name", message: "must be a plain file name without path or control characters")
        }
        return trimmed
    }

    /// Checks the total so far against the limit; called after every chunk.
    public func check(totalBytes: Int) throws {
        guard totalBytes <= maxBytes else {
            throw DomainError.invalidArgument(field: "data", message: "the attachment exceeds the limit of \(maxBytes) bytes")
        }
    }

    /// Checks the first bytes against the declared type's signatures.
    public func checkSignature(_ head: some Collection<UInt8>, contentType: String) throws {
        guard let signatures = Self.allowedTypes[contentType], !signatures.isEmpty else { return }
        guard signatures.contains(where: { head.starts(with: $0) }) else {
            throw DomainError.invalidArgument(field: "data", message: "the content does not look like \(contentType)")
        }
    }
}
