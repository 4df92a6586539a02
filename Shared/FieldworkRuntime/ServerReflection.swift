import FieldworkProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import SwiftProtobuf

/// The schema a server can describe: every file of a `FileDescriptorSet` by
/// name, the file that declares each fully-qualified symbol, and each file's
/// imports, so a file can be answered together with everything it needs.
struct DescriptorIndex: Sendable {
    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// Serialized `FileDescriptorProto`s by file name.
    private var files: [String: Data] = [:]
    private var imports: [String: [String]] = [:]
    /// Symbol → declaring files: one, except for a package spread over several files.
    private var declaring: [String: [String]] = [:]

    /// The schema of every Fieldwork proto, embedded by `Proto/generate.sh`.
    static func fieldwork() throws -> DescriptorIndex {
        guard let data = Data(base64Encoded: FieldworkDescriptorSet.base64, options: .ignoreUnknownCharacters) else {
            throw Malformed(description: "FieldworkDescriptorSet is not base64: run Proto/generate.sh")
        }
        return try DescriptorIndex(Google_Protobuf_FileDescriptorSet(serializedBytes: data))
    }

    init(_ set: Google_Protobuf_FileDescriptorSet) throws {
        for file in set.file {
            guard files[file.name] == nil else { throw Malformed(description: "file '\(file.name)' appears twice") }
            files[file.name] = try file.serializedData()
            imports[file.name] = file.dependency
            index(file)
        }
    }

    var fileNames: [String] { files.keys.sorted() }

    /// The file named `name` first, then its transitive imports; nil if unknown.
    func filesNamed(_ name: String) -> [String]? {
        files[name] == nil ? nil : withImports([name])
    }

    /// The file(s) declaring `symbol` (a package, service, method, message, enum,
    /// enum value, field, oneof or extension; a leading "." is allowed) first,
    /// then their transitive imports; nil if no file declares it.
    func filesDeclaring(_ symbol: String) -> [String]? {
        let name = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
        return declaring[name].map(withImports)
    }

    /// The serialized `FileDescriptorProto`s of `names`, in that order.
    func serialized(_ names: [String]) -> [Data] { names.compactMap { files[$0] } }

    /// `roots` and what they import, depth first, each file once.
    private func withImports(_ roots: [String]) -> [String] {
        var ordered: [String] = []
        var seen: Set<String> = []
        var pending = Array(roots.reversed())
        while let name = pending.popLast() {
            guard files[name] != nil, seen.insert(name).inserted else { continue }
            ordered.append(name)
            pending += (imports[name] ?? []).reversed()
        }
        return ordered
    }

    // MARK: Building the symbol table

    private mutating func index(_ file: Google_Protobuf_FileDescriptorProto) {
        let package = file.package
        if !package.isEmpty { declare(package, in: file.name) }
        for message in file.messageType { index(message, scope: package, in: file.name) }
        for type in file.enumType { index(type, scope: package, in: file.name) }
        for service in file.service {
            let serviceName = qualified(package, service.name)
            declare(serviceName, in: file.name)
            for method in service.method { declare(qualified(serviceName, method.name), in: file.name) }
        }
        for field in file.extension { declare(qualified(package, field.name), in: file.name) }
    }

    private mutating func index(_ message: Google_Protobuf_DescriptorProto, scope: String, in file: String) {
        let name = qualified(scope, message.name)
        declare(name, in: file)
        for field in message.field { declare(qualified(name, field.name), in: file) }
        for oneof in message.oneofDecl { declare(qualified(name, oneof.name), in: file) }
        for field in message.extension { declare(qualified(name, field.name), in: file) }
        for nested in message.nestedType { index(nested, scope: name, in: file) }
        for type in message.enumType { index(type, scope: name, in: file) }
    }

    private mutating func index(_ type: Google_Protobuf_EnumDescriptorProto, scope: String, in file: String) {
        declare(qualified(scope, type.name), in: file)
        // Protobuf scopes enum values beside their enum, not inside it.
        for value in type.value { declare(qualified(scope, value.name), in: file) }
    }

    private mutating func declare(_ symbol: String, in file: String) {
        if !declaring[symbol, default: []].contains(file) { declaring[symbol, default: []].append(file) }
    }

    private func qualified(_ scope: String, _ name: String) -> String {
        scope.isEmpty ? name : "\(scope).\(name)"
    }
}

/// `grpc.reflection.v1.ServerReflection`: lets tools such as grpcurl or
/// grpcio-reflection list a server's services and fetch their schema from
/// the embedded descriptor set. It also answers as `grpc.reflection.v1alpha`,
/// the older name with identical messages that some clients (grpcio-reflection
/// for Python among them) still speak, with the same handler and v1 types.
///
/// Each request on the stream gets one response; a question the schema cannot
/// answer gets an `error_response` (NOT_FOUND) and the stream goes on.
struct ServerReflectionService: RegistrableRPCService {
    typealias Request = Grpc_Reflection_V1_ServerReflectionRequest
    typealias Response = Grpc_Reflection_V1_ServerReflectionResponse

    static let methods: [MethodDescriptor] = [
        Grpc_Reflection_V1_ServerReflection.Method.ServerReflectionInfo.descriptor,
        MethodDescriptor(
            fullyQualifiedService: "grpc.reflection.v1alpha.ServerReflection", method: "ServerReflectionInfo",
            type: .bidirectionalStreaming),
    ]

    /// The reflection services' own names.
    static let serviceNames: Set<String> = Set(methods.map(\.service.fullyQualifiedService))

    let index: DescriptorIndex
    /// What `list_services` answers, sorted.
    let serviceNames: [String]

    init(index: DescriptorIndex, serviceNames: some Sequence<String>) {
        self.index = index
        self.serviceNames = Set(serviceNames).union(Self.serviceNames).sorted()
    }

    /// Reflection over the embedded Fieldwork schema, listing the services that
    /// `services` register (read from their methods, so the list cannot drift).
    init(describing services: [any RegistrableRPCService]) throws {
        var router = RPCRouter<HTTP2ServerTransport.Posix>()  // only its method list is read
        for service in services { service.registerMethods(with: &router) }
        self.init(index: try .fieldwork(), serviceNames: router.methods.map(\.service.fullyQualifiedService))
    }

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        for method in Self.methods {
            router.registerHandler(
                forMethod: method,
                deserializer: ProtobufDeserializer<Request>(),
                serializer: ProtobufSerializer<Response>()
            ) { request, _ in
                StreamingServerResponse { writer in
                    for try await message in request.messages { try await writer.write(answer(message)) }
                    return [:]
                }
            }
        }
    }

    /// The response to one request of the stream.
    func answer(_ request: Request) -> Response {
        var response = Response()
        response.validHost = request.host
        response.originalRequest = request
        switch request.messageRequest {
        case .listServices:
            response.listServicesResponse.service = serviceNames.map { name in .with { $0.name = name } }
        case .fileByFilename(let name):
            if let names = index.filesNamed(name) {
                response.fileDescriptorResponse.fileDescriptorProto = index.serialized(names)
            } else {
                response.errorResponse = Self.notFound("no file named '\(name)'")
            }
        case .fileContainingSymbol(let symbol):
            if let names = index.filesDeclaring(symbol) {
                response.fileDescriptorResponse.fileDescriptorProto = index.serialized(names)
            } else {
                response.errorResponse = Self.notFound("no symbol named '\(symbol)'")
            }
        case .fileContainingExtension(let wanted):
            response.errorResponse = Self.notFound(
                "no extension \(wanted.extensionNumber) of '\(wanted.containingType)': extensions are not indexed (Fieldwork declares none)")
        case .allExtensionNumbersOfType(let type):
            response.errorResponse = Self.notFound("no extensions of '\(type)': extensions are not indexed (Fieldwork declares none)")
        case nil:
            response.errorResponse = .with {
                $0.errorCode = Int32(RPCError.Code.invalidArgument.rawValue)
                $0.errorMessage = "the request names no question"
            }
        }
        return response
    }

    private static func notFound(_ message: String) -> Grpc_Reflection_V1_ErrorResponse {
        .with {
            $0.errorCode = Int32(RPCError.Code.notFound.rawValue)
            $0.errorMessage = message
        }
    }
}
