// swift-tools-version:6.0
// cmpc-video: CMPC referring segmentation for video and still images, in Swift.
import PackageDescription

/// Hot numeric targets are optimised even in debug builds, so `swift test` runs real-sized
/// kernels in reasonable time. (Unsafe flags are allowed for a root package.)
let optimised: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]

let package = Package(
    name: "cmpc-video",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "cmpc-video", targets: ["cmpc-video"]),
        .library(name: "Tensor", targets: ["Tensor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.60.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
    ],
    targets: [
        // System libraries (Debian packages; .ci/run installs them).
        .systemLibrary(
            name: "CFFmpeg", path: "Sources/CFFmpeg", pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]),
        .systemLibrary(
            name: "CFreeType", path: "Sources/CFreeType", pkgConfig: "freetype2",
            providers: [.apt(["libfreetype-dev"])]),
        .systemLibrary(
            name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // oneDNN (Debian's libdnnl-dev) as single-threaded blocks the engine schedules (C, so the
        // kernels' setup reads like oneDNN's own examples).
        .target(name: "CDNNL", cSettings: [.unsafeFlags(["-O3"])],
                linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),

        // Libraries.
        .target(name: "JSON"),
        .target(name: "FileOutput"),
        .target(name: "Tensor", dependencies: ["CDNNL"], swiftSettings: optimised),
        .target(name: "Checkpoint", dependencies: ["Tensor", "JSON", "CZlib", "FileOutput"], swiftSettings: optimised),
        .target(name: "Video", dependencies: ["CFFmpeg", "CFreeType", "FileOutput"]),
        .target(name: "ImageModel", dependencies: ["Tensor"], swiftSettings: optimised),
        .target(name: "VideoModel", dependencies: ["ImageModel", "Tensor", "Video"], swiftSettings: optimised),
        .target(name: "Datasets", dependencies: ["Video", "CHDF5", "CZlib", "Tensor", "Evaluation", "JSON", "FileOutput"]),
        .target(name: "Evaluation", dependencies: ["Tensor", "JSON", "FileOutput"], swiftSettings: optimised),
        .target(name: "CommandLineSupport"),
        .target(name: "Pipeline", dependencies: ["Video", "ImageModel", "VideoModel", "Datasets", "Evaluation", "Tensor", "FileOutput"],
                swiftSettings: optimised),
        .target(name: "Training", dependencies: ["ImageModel", "VideoModel", "Evaluation", "Pipeline", "Tensor", "Checkpoint",
                                               "FileOutput"],
                swiftSettings: optimised),
        // `cmpc-video serve`: the HTTP API, its job queue and the page (embedded in the binary).
        .target(name: "Server",
                dependencies: ["Pipeline", "VideoModel", "ImageModel", "Video", "Tensor", "Checkpoint", "FileOutput",
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "Prometheus", package: "swift-prometheus"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "NIOCore", package: "swift-nio"),
                               .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                               .product(name: "HTTPTypes", package: "swift-http-types")],
                resources: [.embedInCode("Page/index.html"), .embedInCode("Page/app.js"), .embedInCode("Page/style.css")]),

        // The command-line tool.
        .executableTarget(
            name: "cmpc-video",
            dependencies: [
                "Tensor", "Checkpoint", "JSON", "FileOutput", "Video", "ImageModel", "VideoModel", "Datasets", "Evaluation", "Pipeline",
                "Training", "CommandLineSupport", "Server",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Tests.
        .testTarget(name: "ImageModelTests", dependencies: ["ImageModel", "Tensor", "Checkpoint"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VideoModelTests", dependencies: ["VideoModel", "ImageModel", "Tensor", "Checkpoint", "Video"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "Checkpoint"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "CommandLineSupportTests", dependencies: ["CommandLineSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Tensor", "Checkpoint"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Evaluation", "Video"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VideoTests", dependencies: ["Video"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "ImageModel", "VideoModel", "Datasets", "Pipeline", "Tensor",
                                                          "Checkpoint", "Video", "Evaluation", "CommandLineSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "VideoModel", "ImageModel", "Datasets", "Evaluation", "Tensor", "Video", "Checkpoint"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "CommandLineTests", dependencies: ["cmpc-video", "Pipeline", "Checkpoint", "Video", "ImageModel", "Tensor",
                                                            "Evaluation"]),
        .testTarget(name: "ServerTests", dependencies: ["Server"]),
        .testTarget(name: "ArchitectureTests"),
    ],
    // Swift 5 language mode: the engine shares raw buffers across Dispatch workers on purpose.
    swiftLanguageModes: [.v5]
)
