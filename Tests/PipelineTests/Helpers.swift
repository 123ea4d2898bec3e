// Shared test material: a tiny video network, a deterministic little video (in memory and as a
// folder of numbered PNG frames), a vocabulary for it, and dataset samples of it.
import Evaluation
import Datasets
import Foundation
import ImageModel
import Pipeline
import Tensor
import Video
import VideoModel

func tinyVideoConfig(numSteps: Int = 6) -> ModelConfig {
    var c = ModelConfig()
    c.model = .video
    c.H = 32
    c.W = 32
    c.vEmbDim = 8
    c.rnnSize = 8
    c.mlpDim = 4
    c.parseDim = 4
    c.numSteps = numSteps
    c.vocabSize = 20
    c.gloveDim = 3
    c.widthDivisor = 32
    c.depth = [1, 1, 1, 1]
    return c
}

/// A deterministic little "video": frame i is a gradient shifted by i.
func syntheticFrame(_ i: Int, width: Int = 40, height: Int = 30) -> RGBImage {
    var px = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            px[(y * width + x) * 3] = UInt8((x * 6 + i * 17) % 256)
            px[(y * width + x) * 3 + 1] = UInt8((y * 8 + i * 5) % 256)
            px[(y * width + x) * 3 + 2] = UInt8((x * y + i * 31) % 256)
        }
    }
    return try! RGBImage(width: width, height: height, pixels: px)
}

/// A fresh temporary folder, removed by the caller.
func temporaryFolder(_ name: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("cmpc-pipeline-\(name)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Frames 1…n of `syntheticFrame` as DIR/00001.png … (lossless, so every reader sees the same pixels).
func writeFrameFolder(_ dir: String, frames n: Int) throws {
    for i in 1...n { try ImageIO.writePNG(syntheticFrame(i), to: SampleSource.framePath(directory: dir, frame: i)) }
}

let testVocabulary = try! Vocabulary(words: ["<pad>", "<unk>", "the", "red", "square", "jumping", "blue", "circle"])

/// A referring sample of `source` with an empty 40×30 ground truth.
func sample(_ source: SampleSource, sentence: String = "the red square jumping") -> ReferringSample {
    ReferringSample(id: "test/\(source.path)", source: source, sentence: sentence, instance: "1", maskPath: "memory",
                    maskLoader: { PixelMask(width: 40, height: 30) })
}
