import FieldworkProto
import Foundation
import GRPCCore
import SwiftProtobuf
import Testing
@testable import FieldworkRuntime

/// Server reflection over the embedded descriptor set: which file declares a
/// symbol, the imports that come with it, and answers that never end the stream.
@Suite struct ServerReflectionTests {
    let index: DescriptorIndex

    init() throws { index = try DescriptorIndex.fieldwork() }

    /// The file names of a response's descriptors, in order.
    func names(_ response: Grpc_Reflection_V1_ServerReflectionResponse) throws -> [String] {
        try response.fileDescriptorResponse.fileDescriptorProto.map { try Google_Protobuf_FileDescriptorProto(serializedBytes: $0).name }
    }

    @Test func theEmbeddedSetHoldsEveryProtoAndItsImports() {
        #expect(index.fileNames == [
            "fieldwork/v1/common.proto", "fieldwork/v1/directory.proto", "fieldwork/v1/events.proto",
            "fieldwork/v1/notifications.proto", "fieldwork/v1/scoring.proto", "fieldwork/v1/visits.proto",
            "fieldwork/v1/workflows.proto", "google/protobuf/timestamp.proto", "grpc/health/v1/health.proto",
            "grpc/reflection/v1/reflection.proto", "grpc/reflection/v1alpha/reflection.proto",
        ])
    }

    @Test(arguments: [
        ("fieldwork.v1.VisitsService", "fieldwork/v1/visits.proto"),  // service
        ("fieldwork.v1.VisitsService.ListCustomers", "fieldwork/v1/visits.proto"),  // method
        (".fieldwork.v1.Customer", "fieldwork/v1/directory.proto"),  // message, fully qualified with a dot
        ("fieldwork.v1.Customer.fence_radius_m", "fieldwork/v1/directory.proto"),  // field
        ("fieldwork.v1.UploadAttachmentChunk.Header", "fieldwork/v1/workflows.proto"),  // nested message
        ("fieldwork.v1.UploadAttachmentChunk.Header.card_id", "fieldwork/v1/workflows.proto"),  // nested field
        ("fieldwork.v1.Event.payload", "fieldwork/v1/events.proto"),  // oneof
        ("fieldwork.v1.CsvKind", "fieldwork/v1/common.proto"),  // enum
        ("fieldwork.v1.CSV_KIND_PEOPLE", "fieldwork/v1/common.proto"),  // enum value, scoped beside its enum
        ("grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"),  // nested enum
        ("grpc.reflection.v1alpha.ServerReflection", "grpc/reflection/v1alpha/reflection.proto"),
        ("google.protobuf.Timestamp", "google/protobuf/timestamp.proto"),
    ])
    func aSymbolFindsTheFileThatDeclaresIt(symbol: String, file: String) {
        #expect(index.filesDeclaring(symbol)?.first == file)
    }

    @Test func aFileComesWithItsTransitiveImportsEachOnce() throws {
        // visits imports common, directory, events, timestamp; events imports common and directory again.
        let files = try #require(index.filesDeclaring("fieldwork.v1.VisitsService"))
        #expect(files.first == "fieldwork/v1/visits.proto")
        #expect(Set(files) == [
            "fieldwork/v1/visits.proto", "fieldwork/v1/common.proto", "fieldwork/v1/directory.proto",
            "fieldwork/v1/events.proto", "google/protobuf/timestamp.proto",
        ])
        #expect(files.count == Set(files).count)
        #expect(index.filesNamed("grpc/health/v1/health.proto") == ["grpc/health/v1/health.proto"])
        #expect(index.filesNamed("fieldwork/v1/common.proto") == ["fieldwork/v1/common.proto", "google/protobuf/timestamp.proto"])
        // A package spans its files.
        let package = try #require(index.filesDeclaring("grpc.reflection.v1"))
        #expect(package == ["grpc/reflection/v1/reflection.proto"])
        #expect(Set(try #require(index.filesDeclaring("fieldwork.v1"))).isSuperset(of: ["fieldwork/v1/visits.proto", "fieldwork/v1/scoring.proto"]))
    }

    @Test func unknownNamesAreNotFound() {
        #expect(index.filesDeclaring("fieldwork.v1.NoSuchService") == nil)
        #expect(index.filesDeclaring("fieldwork.v1.VisitsService.NoSuchMethod") == nil)
        #expect(index.filesDeclaring("") == nil)
        #expect(index.filesNamed("fieldwork/v1/nothing.proto") == nil)
    }

    @Test func theServiceAnswersEachQuestionOnTheStream() throws {
        let service = ServerReflectionService(index: index, serviceNames: ["fieldwork.v1.VisitsService", "grpc.health.v1.Health"])

        let list = service.answer(.with { $0.host = "h"; $0.listServices = "" })
        #expect(list.validHost == "h" && list.originalRequest.listServices == "")
        #expect(list.listServicesResponse.service.map(\.name) == [
            "fieldwork.v1.VisitsService", "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
        ])

        let symbol = service.answer(.with { $0.fileContainingSymbol = "fieldwork.v1.ListCustomersRequest" })
        let files = try names(symbol)
        #expect(files.first == "fieldwork/v1/visits.proto" && files.contains("google/protobuf/timestamp.proto"))
        // The bytes are the descriptor itself: the method is there with its types.
        let visits = try Google_Protobuf_FileDescriptorProto(serializedBytes: symbol.fileDescriptorResponse.fileDescriptorProto[0])
        let method = try #require(visits.service.first { $0.name == "VisitsService" }?.method.first { $0.name == "ListCustomers" })
        #expect(method.inputType == ".fieldwork.v1.ListCustomersRequest" && method.outputType == ".fieldwork.v1.ListCustomersResponse")

        #expect(try names(service.answer(.with { $0.fileByFilename = "grpc/health/v1/health.proto" })) == ["grpc/health/v1/health.proto"])

        let notFound = Int32(RPCError.Code.notFound.rawValue)
        let unanswerable: [Grpc_Reflection_V1_ServerReflectionRequest] = [
            .with { $0.fileContainingSymbol = "fieldwork.v1.Nope" },
            .with { $0.fileByFilename = "nope.proto" },
            .with { $0.fileContainingExtension = .with { $0.containingType = "fieldwork.v1.Customer"; $0.extensionNumber = 100 } },
            .with { $0.allExtensionNumbersOfType = "fieldwork.v1.Customer" },
        ]
        for request in unanswerable {
            let response = service.answer(request)
            #expect(response.errorResponse.errorCode == notFound, "\(request)")
            #expect(!response.errorResponse.errorMessage.isEmpty)
            #expect(response.originalRequest == request)
        }
    }

    @Test func theServiceListsWhatTheServerRegisters() throws {
        struct Health: Grpc_Health_V1_Health.SimpleServiceProtocol {
            func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse { .init() }
            func watch(
                request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>, context: ServerContext
            ) async throws {}
        }
        let service = try ServerReflectionService(describing: [Health()])
        #expect(service.serviceNames == [
            "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
        ])
        // Both reflection names are open without a token, like health.
        #expect(AuthInterceptor.openServices.isSuperset(of: ServerReflectionService.serviceNames))
    }
}
