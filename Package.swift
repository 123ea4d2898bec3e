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
    ],
    targets: [
        // System libraries (Debian packages; .ci/run installs them).
        .systemLibrary(
            name: "CFFmpeg", path: "Sources/CFFmpeg", pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]),
        .systemLibrary(
            name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // Libraries.
        .target(name: "Tensor", dependencies: ["CZlib"], swiftSettings: optimised),
        .target(name: "Video", dependencies: ["CFFmpeg"]),
        .target(name: "ImageModel", dependencies: ["Tensor"], swiftSettings: optimised),
        .target(name: "VideoModel", dependencies: ["ImageModel", "Tensor", "Video"], swiftSettings: optimised),
        .target(name: "Datasets", dependencies: ["Video", "CHDF5", "CZlib", "Tensor", "Evaluation"]),
        .target(name: "Evaluation", dependencies: ["Tensor"], swiftSettings: optimised),
        .target(name: "Pipeline", dependencies: ["Video", "ImageModel", "VideoModel", "Datasets", "Evaluation", "Tensor"],
                swiftSettings: optimised),
        .target(name: "Training", dependencies: ["ImageModel", "VideoModel", "Evaluation", "Pipeline", "Tensor"],
                swiftSettings: optimised),

        // The command-line tool.
        .executableTarget(
            name: "cmpc-video",
            dependencies: [
                "Tensor", "Video", "ImageModel", "VideoModel", "Datasets", "Evaluation", "Pipeline", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Tests.
        .testTarget(name: "ImageModelTests", dependencies: ["ImageModel", "Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VideoModelTests", dependencies: ["VideoModel", "ImageModel", "Tensor", "Video"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"], resources: [.copy("Fixtures")]),
        .testTarget(name: "VideoTests", dependencies: ["Video"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "ImageModel", "VideoModel", "Datasets", "Pipeline", "Tensor", "Video"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "VideoModel", "ImageModel", "Datasets", "Evaluation", "Tensor", "Video"]),
    ],
    // Swift 5 language mode: the engine shares raw buffers across Dispatch workers on purpose.
    swiftLanguageModes: [.v5]
)
