import Crypto
import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import PostgresNIO

/// Card attachments (SPEC §3.3). An upload is checked while it streams (size
/// limit, declared type, the content's first bytes) and is held in memory —
/// at most the limit — until it is complete; only then is it written, row and
/// content in one transaction. A refused, broken or cancelled upload therefore
/// leaves nothing behind, and no database connection waits on a slow client.
extension WorkflowsService {
    static let storedChunkBytes = 1024 * 1024
    static let downloadChunkBytes = 64 * 1024

    func uploadAttachment(_ chunks: RPCAsyncSequence<Fieldwork_V1_UploadAttachmentChunk, any Error>) async throws -> Fieldwork_V1_Attachment {
        var iterator = chunks.makeAsyncIterator()
        guard let first = try await iterator.next(), first.hasHeader else {
            throw DomainError.invalidArgument(field: "header", message: "the first chunk must carry the header")
        }
        let header = first.header
        let fileName = try attachmentPolicy.fileName(header.fileName)
        let contentType = try attachmentPolicy.contentType(header.contentType)
        let cardKey = try Input.text(header.cardID, field: "header.card_id", max: 64, required: true)
        // Refuse before reading megabytes from someone who may not attach to this card.
        let card = try await getCard(.with { $0.id = cardKey })
        let principal = try Principal.required()
        guard principal.has(.admin) || principal.department == card.department else {
            throw DomainError.permissionDenied("only members of \(card.department) attach files to card \(card.number)")
        }

        var content: [UInt8] = []
        var hasher = SHA256()
        var chunk: Fieldwork_V1_UploadAttachmentChunk? = first
        while let current = chunk {
            if current.hasHeader && content.count > 0 {
                throw DomainError.invalidArgument(field: "header", message: "only the first chunk carries the header")
            }
            try attachmentPolicy.check(totalBytes: content.count + current.data.count)
            hasher.update(data: current.data)
            content.append(contentsOf: current.data)
            chunk = try await iterator.next()
        }
        guard !content.isEmpty else { throw DomainError.invalidArgument(field: "data", message: "the attachment is empty") }
        try attachmentPolicy.checkSignature(content.prefix(16), contentType: contentType)
        let sha256 = hasher.finalize().map { String(format: "%02x", $0) }.joined()

        return try await withLockedCard("UploadAttachment", requestID: header.requestID, cardKey: card.id, field: "header.card_id") {
            card, connection, principal, now in
            let id = UUID()
            try await connection.query(
                """
                INSERT INTO attachments (id, card_id, file_name, content_type, size_bytes, sha256, uploaded_by, uploaded_at)
                VALUES (\(id), \(card.id), \(fileName), \(contentType), \(Int64(content.count)), \(sha256), \(principal.personID), \(now))
                """, logger: environment.logger)
            var seq = 0
            for start in stride(from: 0, to: content.count, by: Self.storedChunkBytes) {
                let piece = ByteBuffer(bytes: content[start..<min(start + Self.storedChunkBytes, content.count)])
                try await connection.query(
                    "INSERT INTO attachment_chunks (attachment_id, seq, data) VALUES (\(id), \(seq), \(piece))", logger: environment.logger)
                seq += 1
            }
            try await store.recordTimeline(
                card: card.id, at: now, actor: principal.personID, kind: "attachment",
                text: "\(fileName) (\(content.count) bytes, sha256 \(sha256))", on: connection)
            try await environment.audit(
                AuditRecord(entityType: "card", entityID: card.entityID, action: "attach", changes: [
                    .init("attachment", "", "\(id.uuidString.lowercased()) \(fileName)"), .init("sha256", "", sha256),
                ]),
                by: principal, at: now, requestID: header.requestID, on: connection)
            try await store.noteResponse(to: card, by: principal, at: now, on: connection)
            try await connection.query("UPDATE cards SET updated_at = \(now) WHERE id = \(card.id)", logger: environment.logger)
            guard let stored = try await attachments(card: card.id, id: id, after: nil, limit: 1, on: connection).first else {
                throw DomainError.notFound(entity: "attachment", id: id.uuidString)
            }
            return stored
        }
    }

    /// The attachment's metadata first, then its content in 64 KiB messages.
    func downloadAttachment(_ request: Fieldwork_V1_DownloadAttachmentRequest, writer: RPCWriter<Fieldwork_V1_AttachmentChunk>) async throws {
        guard let id = UUID(uuidString: request.id) else {
            throw DomainError.invalidArgument(field: "id", message: "'\(request.id)' is not an attachment id")
        }
        let attachment = try await environment.postgres.withConnection { connection in
            try await attachments(card: nil, id: id, after: nil, limit: 1, on: connection).first
        }
        guard let attachment else { throw DomainError.notFound(entity: "attachment", id: request.id) }
        _ = try await getCard(.with { $0.id = attachment.cardID })   // the card's visibility is the attachment's
        var sentHeader = false
        // One stored piece at a time, so a 20 MiB file never sits in memory whole.
        var seq = 0
        while true {
            var piece: ByteBuffer?
            for try await data in try await environment.postgres.query(
                "SELECT data FROM attachment_chunks WHERE attachment_id = \(id) AND seq = \(seq)", logger: environment.logger
            ).decode(ByteBuffer.self) { piece = data }
            guard var piece else { break }
            while piece.readableBytes > 0 {
                let bytes = piece.readBytes(length: min(Self.downloadChunkBytes, piece.readableBytes)) ?? []
                try await writer.write(.with {
                    if !sentHeader { $0.attachment = attachment }
                    $0.data = Data(bytes)
                })
                sentHeader = true
            }
            seq += 1
        }
        if !sentHeader { try await writer.write(.with { $0.attachment = attachment }) }
    }

    func listAttachments(_ request: Fieldwork_V1_ListAttachmentsRequest) async throws -> Fieldwork_V1_ListAttachmentsResponse {
        let card = try await getCard(.with { $0.id = request.cardID })
        let page = try Page(request.page)
        let after = try page.idKey()
        let found = try await environment.postgres.withConnection { connection in
            try await attachments(card: UUID(uuidString: card.id), id: nil, after: after, limit: page.limit, on: connection)
        }
        let finished = page.finish(found) { $0.id }
        return .with { $0.attachments = finished.rows; $0.page = finished.page }
    }

    private func attachments(card: UUID?, id: UUID?, after: UUID?, limit: Int, on connection: PostgresConnection) async throws -> [Fieldwork_V1_Attachment] {
        let rows = try await connection.query(
            """
            SELECT id, card_id, file_name, content_type, size_bytes, sha256, uploaded_by, uploaded_at FROM attachments
            WHERE (\(card)::uuid IS NULL OR card_id = \(card)) AND (\(id)::uuid IS NULL OR id = \(id))
              AND (\(after)::uuid IS NULL OR id > \(after))
            ORDER BY id LIMIT \(limit)
            """, logger: environment.logger)
        var result: [Fieldwork_V1_Attachment] = []
        for try await (id, card, name, type, size, sha, by, at) in rows.decode((UUID, UUID, String, String, Int64, String, String, Date).self) {
            result.append(.with {
                $0.id = id.uuidString.lowercased()
                $0.cardID = card.uuidString.lowercased()
                $0.fileName = name
                $0.contentType = type
                $0.sizeBytes = size
                $0.sha256 = sha
                $0.uploadedBy = by
                $0.uploadedAt = .init(at)
            })
        }
        return result
    }
}
