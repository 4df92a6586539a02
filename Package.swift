// swift-tools-version:6.1
import PackageDescription

// Fieldwork: four gRPC services (visits, workflows, scoring, notifications) on
// PostgreSQL, sharing a pure domain module, generated protobuf code and a runtime.
// Dependency direction: Services → FieldworkRuntime → FieldworkProto; Services → FieldworkDomain.

let grpcCore: Target.Dependency = .product(name: "GRPCCore", package: "grpc-swift-2")
let grpcNIO: Target.Dependency = .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport")
let grpcProtobuf: Target.Dependency = .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf")
let swiftProtobuf: Target.Dependency = .product(name: "SwiftProtobuf", package: "swift-protobuf")
let postgres: Target.Dependency = .product(name: "PostgresNIO", package: "postgres-nio")
let lifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let csv: Target.Dependency = .product(name: "CSV", package: "CSV.swift")

/// A service is a library (handlers, store, jobs) plus a tiny executable.
func service(_ folder: String, library: String, executable: String, extra: [Target.Dependency] = []) -> [Target] {
    [
        .target(
            name: library,
            dependencies: [
                "FieldworkDomain", "FieldworkProto", "FieldworkRuntime", grpcCore, postgres, logging, csv,
                .product(name: "Crypto", package: "swift-crypto"),
            ] + extra,
            path: "Services/\(folder)/\(library)"
        ),
        .executableTarget(
            name: executable,
            dependencies: [.target(name: library), "FieldworkRuntime"],
            path: "Services/\(folder)/\(executable)"
        ),
    ]
}

let package = Package(
    name: "fieldwork",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fieldwork-visits", targets: ["fieldwork-visits"]),
        .executable(name: "fieldwork-workflows", targets: ["fieldwork-workflows"]),
        .executable(name: "fieldwork-scoring", targets: ["fieldwork-scoring"]),
        .executable(name: "fieldwork-notifications", targets: ["fieldwork-notifications"]),
        .executable(name: "fieldctl", targets: ["fieldctl"]),
        .executable(name: "fieldwork-demo", targets: ["fieldwork-demo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Tests only: generated inputs for the parsers (any input → a value or a DomainError).
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        .target(name: "FieldworkDomain", path: "Shared/FieldworkDomain"),
        .target(
            name: "FieldworkProto",
            dependencies: [grpcCore, grpcProtobuf, swiftProtobuf],
            path: "Shared/FieldworkProto"
        ),
        .target(
            name: "FieldworkRuntime",
            dependencies: [
                "FieldworkDomain", "FieldworkProto", grpcCore, grpcNIO, grpcProtobuf, swiftProtobuf, postgres,
                lifecycle, logging, argumentParser, csv,
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // Reads the user-token JWKS from its URL.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Shared/FieldworkRuntime"
        ),
    ]
        + service("Visits", library: "VisitsService", executable: "fieldwork-visits")
        + service("Workflows", library: "WorkflowsService", executable: "fieldwork-workflows")
        + service("Scoring", library: "ScoringService", executable: "fieldwork-scoring")
        + service(
            "Notifications", library: "NotificationsService", executable: "fieldwork-notifications",
            // Posts to WeCom robots and webhooks.
            extra: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"), lifecycle,
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ])
        + [
            .executableTarget(
                name: "fieldctl",
                dependencies: ["FieldworkProto", "FieldworkRuntime", "FieldworkDomain", "FieldworkClientSupport", grpcCore, grpcNIO, argumentParser],
                path: "Clients/fieldctl"
            ),
            // What the command-line clients share: terminal tables.
            .target(name: "FieldworkClientSupport", path: "Clients/FieldworkClientSupport"),
            .executableTarget(
                name: "fieldwork-demo",
                dependencies: ["FieldworkProto", "FieldworkRuntime", "FieldworkDomain", "FieldworkClientSupport", grpcCore, grpcNIO, argumentParser],
                path: "Clients/fieldwork-demo"
            ),
            .executableTarget(
                name: "fieldwork-bench-visits",
                dependencies: ["FieldworkProto", "FieldworkRuntime", "FieldworkDomain", grpcCore, grpcNIO],
                path: "Benchmarks/VisitsBenchmark"
            ),
            .executableTarget(
                name: "fieldwork-bench-workflows",
                dependencies: ["FieldworkProto", "FieldworkRuntime", "FieldworkDomain", grpcCore, grpcNIO],
                path: "Benchmarks/WorkflowsBenchmark"
            ),
            .executableTarget(
                name: "fieldwork-bench-notifications",
                dependencies: ["FieldworkProto", "FieldworkRuntime", "FieldworkDomain", grpcCore, grpcNIO],
                path: "Benchmarks/NotificationsBenchmark"
            ),
            .executableTarget(
                name: "fieldwork-bench-scoring",
                dependencies: ["FieldworkProto", "FieldworkRuntime", "FieldworkDomain", grpcCore, grpcNIO],
                path: "Benchmarks/ScoringBenchmark"
            ),
            .testTarget(
                name: "FieldworkDomainTests",
                dependencies: ["FieldworkDomain", .product(name: "PropertyBased", package: "swift-property-based")],
                path: "Tests/FieldworkDomainTests"
            ),
            .testTarget(
                name: "ServiceTests",
                dependencies: [
                    "FieldworkRuntime", "FieldworkProto", "FieldworkDomain", "VisitsService", "WorkflowsService",
                    "ScoringService", "NotificationsService", grpcCore, grpcNIO, postgres,
                    .product(name: "PropertyBased", package: "swift-property-based"),
                ],
                path: "Tests/ServiceTests"
            ),
            .testTarget(
                name: "IntegrationTests",
                dependencies: [
                    "FieldworkProto", "FieldworkRuntime", "FieldworkDomain", grpcCore, grpcNIO,
                    // The access rules the services declare, which the access matrix calls.
                    "VisitsService", "WorkflowsService", "ScoringService", "NotificationsService",
                    // The loopback HTTP receiver that plays WeCom and webhook endpoints.
                    .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                    .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "Crypto", package: "swift-crypto"),
                ],
                path: "Tests/IntegrationTests"
            ),
        ]
)
