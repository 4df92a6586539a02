import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import PostgresNIO

/// The health model's configuration is versioned (SPEC §4.2): a change is a new
/// version with a reason, audited, and applies from the next run.
extension ScoringService {
    func getModelConfig(_ request: Fieldwork_V1_GetModelConfigRequest) async throws -> Fieldwork_V1_ModelConfig {
        guard request.version >= 0 else { throw DomainError.invalidArgument(field: "version", message: "must not be negative") }
        return try await environment.postgres.withConnection { connection in
            guard let found = try await modelVersions(version: Int(request.version), after: nil, limit: 1, on: connection).first else {
                throw DomainError.notFound(entity: "model version", id: String(request.version))
            }
            return found
        }
    }

    func updateModelConfig(_ request: Fieldwork_V1_UpdateModelConfigRequest) async throws -> Fieldwork_V1_ModelConfig {
        let reason = try Input.text(request.reason, field: "reason", max: 1000, required: true)
        let model = HealthModel(request.config)
        try model.validate()
        let json = String(decoding: try JSONEncoder().encode(model), as: UTF8.self)
        return try await environment.command("UpdateModelConfig", requestID: request.requestID) { connection, principal, now in
            _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended('model-versions', 0))", logger: environment.logger)
            let current = try await modelVersions(version: 0, after: nil, limit: 1, on: connection).first
            let version = (current?.version ?? 0) + 1
            try await connection.query(
                """
                INSERT INTO model_versions (version, config, created_at, created_by, reason)
                VALUES (\(Int(version)), \(json)::jsonb, \(now), \(principal.personID), \(reason))
                """, logger: environment.logger)
            let before = current.map { String(decoding: (try? JSONEncoder().encode(HealthModel($0))) ?? Data(), as: UTF8.self) } ?? ""
            try await environment.audit(
                AuditRecord(entityType: "model", entityID: "health", action: "update", changes: [
                    .init("version", current.map { String($0.version) } ?? "", String(version)), .init("config", before, json),
                ], reason: reason),
                by: principal, at: now, requestID: request.requestID, on: connection)
            guard let saved = try await modelVersions(version: Int(version), after: nil, limit: 1, on: connection).first else {
                throw DomainError.notFound(entity: "model version", id: String(version))
            }
            return saved
        }
    }

    func listModelVersions(_ request: Fieldwork_V1_ListModelVersionsRequest) async throws -> Fieldwork_V1_ListModelVersionsResponse {
        let page = try Page(request.page)
        let after = try page.sequenceKey().map { Int($0) }
        let versions = try await environment.postgres.withConnection { connection in
            try await modelVersions(version: nil, after: after, limit: page.limit, on: connection)
        }
        let finished = page.finish(versions) { String($0.version) }
        return .with { $0.versions = finished.rows; $0.page = finished.page }
    }

    /// One version (0: the current one), or the versions newest first after a cursor.
    func modelVersions(version: Int?, after: Int?, limit: Int, on connection: PostgresConnection) async throws -> [Fieldwork_V1_ModelConfig] {
        var result: [Fieldwork_V1_ModelConfig] = []
        for try await (number, config, createdAt, createdBy, reason) in try await connection.query(
            """
            SELECT version, config::text, created_at, created_by, reason FROM model_versions
            WHERE (\(version)::int8 IS NULL OR \(version)::int8 = 0 OR version = \(version))
              AND (\(after)::int8 IS NULL OR version < \(after))
            ORDER BY version DESC LIMIT \(limit)
            """, logger: environment.logger
        ).decode((Int32, String, Date, String, String).self) {
            let model = try JSONDecoder().decode(HealthModel.self, from: Data(config.utf8))
            var proto = Fieldwork_V1_ModelConfig(model)
            proto.version = number
            proto.createdAt = .init(createdAt)
            proto.createdBy = createdBy
            proto.reason = reason
            result.append(proto)
        }
        return result
    }
}

extension HealthModel {
    init(_ config: Fieldwork_V1_ModelConfig) {
        self.init(
            weightPurchases: config.weightPurchases, weightTrials: config.weightTrials, weightAcademic: config.weightAcademic,
            windowMonths: Int(config.windowMonths), purchasesFullPercentile: config.purchasesFullPercentile,
            trialsFullMarks: Int(config.trialsFullMarks), academicFullMarks: Int(config.academicFullMarks),
            gradeAMin: config.gradeAMin, gradeBMin: config.gradeBMin, zeroStreakWeeks: Int(config.zeroStreakWeeks),
            cultivationMaxScore: config.cultivationMaxScore,
            // 0 is proto3's unset: a client that predates the setting keeps the default.
            recommendationTopShare: config.recommendationTopShare == 0 ? HealthModel().recommendationTopShare : config.recommendationTopShare)
    }
}

extension Fieldwork_V1_ModelConfig {
    init(_ model: HealthModel) {
        self.init()
        weightPurchases = model.weightPurchases
        weightTrials = model.weightTrials
        weightAcademic = model.weightAcademic
        windowMonths = Int32(model.windowMonths)
        purchasesFullPercentile = model.purchasesFullPercentile
        trialsFullMarks = Int32(model.trialsFullMarks)
        academicFullMarks = Int32(model.academicFullMarks)
        gradeAMin = model.gradeAMin
        gradeBMin = model.gradeBMin
        zeroStreakWeeks = Int32(model.zeroStreakWeeks)
        cultivationMaxScore = model.cultivationMaxScore
        recommendationTopShare = model.recommendationTopShare
    }
}
