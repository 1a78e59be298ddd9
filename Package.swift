// swift-tools-version:6.0
import PackageDescription

/// blobferry: Azure Blob Storage -> S3 migration through Redis.
///
/// Layout (one module per concern, C libraries behind tiny system/shim targets):
/// - `CHiredis`, `CCurl`, `COpenSSL`, `CLibXML2`: pkg-config system libraries.
/// - `CCurlShims`: typed wrappers for curl's variadic setopt/getinfo.
/// - `BlobferryRedis`: Redis client over hiredis.
/// - `BlobferryHTTP`: many transfers on one libcurl multi handle.
/// - `BlobferryCrypto`: hashing, HMAC, base64, AWS SigV4, Azure Shared Key and SAS.
/// - `BlobferryXML`: libxml2's SAX2 push parser (the only module importing `CLibXML2`).
/// - `Blobferry`: config, Azure and S3 clients, queue protocol, producer, consumer, status.
/// - `BlobferryCLI`: the command tree (`blobferry producer|consumer|status|...`).
/// - executables (`blobferry`, and `blobferry-producer` / `blobferry-consumer`, the same
///   commands under the names deployments use) only call `BlobferryCLI`. The `blobferry`
///   product's target is `blobferry-command`, so no two modules or folders differ only by
///   case from the `Blobferry` library (one folder on macOS and Windows file systems).
let package = Package(
    name: "blobferry",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "blobferry-producer", targets: ["blobferry-producer"]),
        .executable(name: "blobferry-consumer", targets: ["blobferry-consumer"]),
        .executable(name: "blobferry", targets: ["blobferry-command"]),
        .library(name: "Blobferry", targets: ["Blobferry"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        // /metrics: a small HTTP server with no dependencies of its own (README, "Metrics").
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.1"),
    ],
    targets: [
        // C libraries.
        .systemLibrary(
            name: "CHiredis", pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        .target(name: "CCurlShims", dependencies: ["CCurl"]),
        .systemLibrary(
            name: "CLibXML2", pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]),

        // Swift modules, one per concern.
        .target(name: "BlobferryRedis", dependencies: ["CHiredis"]),
        .target(name: "BlobferryHTTP", dependencies: ["CCurl", "CCurlShims"]),
        .target(name: "BlobferryCrypto", dependencies: ["COpenSSL"]),
        .target(name: "BlobferryXML", dependencies: ["CLibXML2"]),
        .target(
            name: "Blobferry",
            dependencies: [
                "BlobferryRedis", "BlobferryHTTP", "BlobferryCrypto", "BlobferryXML",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]),

        // The command tree, and thin executables that call it.
        .target(
            name: "BlobferryCLI",
            dependencies: [
                "Blobferry", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "FlyingFox", package: "FlyingFox"),
            ]),
        .executableTarget(
            name: "blobferry-producer",
            dependencies: ["BlobferryCLI"]),
        .executableTarget(
            name: "blobferry-consumer",
            dependencies: ["BlobferryCLI"]),
        .executableTarget(
            name: "blobferry-command",
            dependencies: ["BlobferryCLI"]),

        // Tests and their helpers.
        .target(name: "BlobferryTestSupport"),
        .testTarget(name: "BlobferryRedisTests", dependencies: ["BlobferryRedis", "BlobferryTestSupport"]),
        .testTarget(name: "BlobferryHTTPTests", dependencies: ["BlobferryHTTP", "BlobferryTestSupport"]),
        .testTarget(name: "BlobferryXMLTests", dependencies: ["BlobferryXML"]),
        .testTarget(
            name: "BlobferryCryptoTests", dependencies: ["BlobferryCrypto", "BlobferryTestSupport"],
            resources: [.copy("Vectors")]),
        .testTarget(
            name: "BlobferryTests",
            dependencies: [
                "Blobferry", "BlobferryCLI", "BlobferryHTTP", "BlobferryCrypto", "BlobferryRedis",
                "BlobferryTestSupport",
            ]),
    ],
    swiftLanguageModes: [.v6]
)

// Test targets stay in Swift 5 mode: with this toolchain, Swift Testing's @Test/@Suite
// macros expand to `@section` globals that Swift 6 mode rejects. Every library and
// executable target is checked in Swift 6 mode (complete concurrency checking).
for target in package.targets where target.type == .test {
    target.swiftSettings = (target.swiftSettings ?? []) + [.swiftLanguageMode(.v5)]
}
