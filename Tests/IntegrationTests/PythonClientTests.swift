import FieldworkDomain
import FieldworkProto
import FieldworkRuntime
import Foundation
import GRPCCore
import Testing

/// The Python examples of Clients/python against the real visits executable:
/// server reflection lists and describes the RPCs without a token, and the
/// client reads back data this test wrote, with a token it minted itself.
@Suite(.serialized) struct PythonClientTests {
    @Test func pythonListsTheServicesByReflectionAndCallsVisits() async throws {
        try await Cluster.with { cluster in
            try cluster.start(.visits)
            try await cluster.waitUntilServing(.visits)
            let target = "127.0.0.1:\(cluster.ports[.visits]!)"

            let listing = try runExample("list_services.py", ["--target", target, "--describe", "fieldwork.v1.VisitsService.ListCustomers"])
            #expect(listing.status == 0, "\(listing.output)")
            let services = listing.output.split(separator: "\n").drop { !$0.hasPrefix("services at ") }.dropFirst()
                .prefix { $0.hasPrefix("  ") }.map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(services == [
                "fieldwork.v1.VisitsService", "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
            ], "\(listing.output)")
            #expect(listing.output.contains("rpc ListCustomers(fieldwork.v1.ListCustomersRequest) returns (fieldwork.v1.ListCustomersResponse)"))
            #expect(listing.output.contains("string region = 1;") && listing.output.contains("fieldwork.v1.PageRequest page = 4;"))

            // grpc.reflection.v1 (what grpcurl speaks) on one stream, without a token: a
            // question it cannot answer gets a NOT_FOUND answer and the stream goes on.
            let answers = try await cluster.withClient(.visits) { client in
                try await Grpc_Reflection_V1_ServerReflection.Client(wrapping: client).serverReflectionInfo { writer in
                    try await writer.write(.with { $0.fileContainingSymbol = "fieldwork.v1.NoSuchThing" })
                    try await writer.write(.with { $0.allExtensionNumbersOfType = "fieldwork.v1.Customer" })
                    try await writer.write(.with { $0.fileContainingSymbol = "fieldwork.v1.VisitsService.CheckIn" })
                    try await writer.write(.with { $0.listServices = "" })
                } onResponse: { response in
                    try await response.messages.reduce(into: []) { $0.append($1) }
                }
            }
            try #require(answers.count == 4)
            #expect(answers[0].errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
            #expect(answers[1].errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
            #expect(answers[2].fileDescriptorResponse.fileDescriptorProto.count == 5)  // visits.proto and its 4 imports
            #expect(answers[3].listServicesResponse.service.map(\.name).contains("fieldwork.v1.VisitsService"))

            // A customer only this test writes, in a region of its own, read back by Python.
            let story = try await Story(cluster)
            _ = try await cluster.visits(story.admin) { client, metadata in
                try await client.upsertCustomer(.with {
                    $0.customer = .with {
                        $0.id = "H-PY-001"
                        $0.name = "蟒蛇测试医院"
                        $0.region = "温州"
                        $0.grade = "B"
                        $0.fenceCenter = .with { $0.latitude = 28.0; $0.longitude = 120.65 }
                        $0.contacts = [.with { $0.name = "张三"; $0.title = "主任" }]
                    }
                }, metadata: metadata)
            }
            let client = try runExample("fieldwork_client.py", ["--target", target, "--region", "温州"], environment: ["FIELDWORK_TOKEN": story.admin])
            #expect(client.status == 0, "\(client.output)")
            #expect(client.output.contains("1 customer(s)"), "\(client.output)")
            #expect(client.output.contains("H-PY-001  蟒蛇测试医院  region=温州  grade=B  contacts=1"), "\(client.output)")

            // The token is really checked: one signed with another key is refused.
            let forger = await UserTokenSigner(generatingKeyID: cluster.signer.keyID)
            let forgedToken = try await forger.sign(Principal(personID: "A0001", roles: [.admin]))
            let forged = try runExample("fieldwork_client.py", ["--target", target, "--token", forgedToken])
            #expect(forged.status != 0 && forged.output.contains("UNAUTHENTICATED"), "\(forged.output)")
        }
    }

    /// Runs `Clients/python/run-example.sh script arguments…` (which installs the
    /// pinned packages into .build/python-client-venv on first use).
    func runExample(_ script: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = root.appendingPathComponent("Clients/python/run-example.sh")
        process.arguments = [script] + arguments
        process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "FIELDWORK_TOKEN" }
            .merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()  // until the script and its children exit
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
