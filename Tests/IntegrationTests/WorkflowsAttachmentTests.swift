import FieldworkProto
import Foundation
import GRPCCore
import Testing

/// SPEC §3.3 and §3.5 over TCP: attachments and first-response metrics.
@Suite(.serialized) struct WorkflowsAttachmentTests {
    static let limit = 2 * 1024 * 1024
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Bytes that start like a PNG, then a deterministic pseudo-random body.
    static func photo(size: Int) -> [UInt8] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var bytes = png
        bytes.reserveCapacity(size)
        while bytes.count < size {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes.append(UInt8(truncatingIfNeeded: state >> 33))
        }
        return bytes
    }

    static func upload(
        _ cluster: Cluster, token: String, card: String, name: String = "kit.png", type: String = "image/png", content: [UInt8],
        chunk: Int = 64 * 1024
    ) async throws -> Fieldwork_V1_Attachment {
        try await cluster.workflows(token) { client, metadata in
            try await client.uploadAttachment(metadata: metadata) { writer in
                try await writer.write(.with { $0.header = .with { $0.cardID = card; $0.fileName = name; $0.contentType = type } })
                for start in stride(from: 0, to: content.count, by: chunk) {
                    try await writer.write(.with { $0.data = Data(content[start..<min(start + chunk, content.count)]) })
                }
            }
        }
    }

    /// The reference digest from coreutils' `sha256sum`, independent of the service's code.
    static func sha256Hex(_ bytes: [UInt8]) throws -> String {
        let file = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("fw-attachment-\(UUID().uuidString)")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sha256sum", file.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        return String(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64))
    }

    @Test func attachmentsRoundTripAndRefusalsLeaveNothing() async throws {
        try await Cluster.with { cluster in
            for service in Cluster.Service.allCases {
                try cluster.start(service, extra: service == .workflows ? ["ATTACHMENT_MAX_BYTES": String(Self.limit)] : [:])
            }
            for service in Cluster.Service.allCases { try await cluster.waitUntilServing(service) }
            let story = try await Story(cluster)
            try await story.setUpOrganisation()
            let logistics = try #require(try await story.supportRequest()["logistics"])
            let lg02 = try await story.token("LG02")

            // The kit photo: 1.5 MiB in 64 KiB chunks, back byte for byte with the same SHA-256.
            let photo = Self.photo(size: 1_572_864 + 123)
            let stored = try await Self.upload(cluster, token: lg02, card: logistics.number, content: photo)
            #expect(stored.sizeBytes == Int64(photo.count))
            #expect(stored.sha256 == (try Self.sha256Hex(photo)))
            let (downloaded, header) = try await cluster.workflows(lg02) { client, metadata in
                try await client.downloadAttachment(.with { $0.id = stored.id }, metadata: metadata) { response in
                    var bytes: [UInt8] = []
                    var header: Fieldwork_V1_Attachment?
                    for try await chunk in response.messages {
                        if chunk.hasAttachment { header = chunk.attachment }
                        bytes.append(contentsOf: chunk.data)
                    }
                    return (bytes, header)
                }
            }
            #expect(downloaded == photo)
            #expect(header?.sha256 == stored.sha256 && header?.fileName == "kit.png")
            // The upload answered the card.
            let answered = try await story.card(logistics.id)
            #expect(answered.hasFirstResponseAt)
            let listed = try await cluster.workflows(lg02) { client, metadata in
                try await client.listAttachments(.with { $0.cardID = logistics.id }, metadata: metadata).attachments
            }
            #expect(listed.map(\.id) == [stored.id])

            // Refusals: too large (found while streaming), a type off the list, content that is not what it claims,
            // a path for a name, and someone outside the department. None leaves a row behind.
            #expect(await rpcCode { _ = try await Self.upload(cluster, token: lg02, card: logistics.id, content: Self.photo(size: Self.limit + 1)) }
                == .invalidArgument)
            #expect(await rpcCode {
                _ = try await Self.upload(cluster, token: lg02, card: logistics.id, name: "run.sh", type: "application/x-sh", content: Array("#!/bin/sh".utf8))
            } == .invalidArgument)
            #expect(await rpcCode {
                _ = try await Self.upload(cluster, token: lg02, card: logistics.id, name: "a.pdf", type: "application/pdf", content: Self.photo(size: 1000))
            } == .invalidArgument)
            #expect(await rpcCode {
                _ = try await Self.upload(cluster, token: lg02, card: logistics.id, name: "../../etc/passwd", content: Self.photo(size: 1000))
            } == .invalidArgument)
            #expect(await rpcCode {
                _ = try await Self.upload(cluster, token: try await story.token("MK02"), card: logistics.id, content: Self.photo(size: 1000))
            } == .notFound)
            #expect(await rpcCode {
                _ = try await cluster.workflows(lg02) { client, metadata in
                    try await client.uploadAttachment(metadata: metadata) { writer in try await writer.write(.with { $0.data = Data(Self.png) }) }
                }
            } == .invalidArgument)
            // A client that breaks off mid-upload leaves nothing either.
            struct BrokenOff: Error {}
            #expect(await rpcCode {
                _ = try await cluster.workflows(lg02) { client, metadata in
                    try await client.uploadAttachment(metadata: metadata) { writer in
                        try await writer.write(.with { $0.header = .with { $0.cardID = logistics.id; $0.fileName = "half.png"; $0.contentType = "image/png" } })
                        try await writer.write(.with { $0.data = Data(Self.photo(size: 300_000)) })
                        throw BrokenOff()
                    }
                }
            } != nil)
            #expect(try cluster.scalar(.workflows, "SELECT count(*) FROM attachments") == "1")
            #expect(try cluster.scalar(.workflows, "SELECT count(*) FROM attachment_chunks") == "2")
        }
    }

    @Test func responseMetricsPerDepartment() async throws {
        try await Cluster.with { cluster in
            try await cluster.startAll()
            let story = try await Story(cluster)
            try await story.setUpOrganisation()
            var answered: [String] = []
            for _ in 0..<4 {
                let cards = try await story.supportRequest()
                let marketing = try #require(cards["marketing"])
                _ = try await cluster.workflows(try await story.token("MK02")) { client, metadata in
                    try await client.acknowledgeCard(.with { $0.cardID = marketing.id }, metadata: metadata)
                }
                answered.append(marketing.id)
            }
            // Known response times: the four marketing cards were answered 30, 60, 180 and 600 minutes after
            // creation (the fixture moves created_at back; the service computes from the stored times).
            for (card, minutes) in zip(answered, [30, 60, 180, 600]) {
                try cluster.psql("UPDATE cards SET created_at = first_response_at - interval '\(minutes) minutes' WHERE id = '\(card)'",
                                 database: cluster.database(.workflows))
            }
            let metrics = try await cluster.workflows(try await story.token("D3001")) { client, metadata in
                try await client.responseMetrics(.init(), metadata: metadata)
            }
            let marketing = try #require(metrics.departments.first { $0.department == "marketing" })
            #expect(marketing.cards == 4 && marketing.responded == 4)
            #expect(abs(marketing.meanMinutes - 217.5) < 0.01)
            #expect(abs(marketing.medianMinutes - 120) < 0.01)       // percentile_cont: between 60 and 180
            #expect(abs(marketing.p90Minutes - 474) < 0.01)          // 180 + 0.7 × 420
            #expect(abs(marketing.shareWithinTarget - 0.5) < 1e-9)   // 30 and 60 minutes are within 2 h
            let logistics = try #require(metrics.departments.first { $0.department == "logistics" })
            #expect(logistics.cards == 4 && logistics.responded == 0 && logistics.shareWithinTarget == 0)

            // A department member sees their own department only.
            let own = try await cluster.workflows(try await story.token("MK02")) { client, metadata in
                try await client.responseMetrics(.init(), metadata: metadata)
            }
            #expect(own.departments.map(\.department) == ["marketing"])
            #expect(await rpcCode {
                _ = try await cluster.workflows(try await story.token("MK02")) { client, metadata in
                    try await client.responseMetrics(.with { $0.department = "logistics" }, metadata: metadata)
                }
            } == .permissionDenied)
            // A token without a department sees no department's figures.
            #expect(await rpcCode {
                _ = try await cluster.workflows(try await cluster.token("X1", [.rep])) { client, metadata in
                    try await client.responseMetrics(.init(), metadata: metadata)
                }
            } == .permissionDenied)
        }
    }
}
