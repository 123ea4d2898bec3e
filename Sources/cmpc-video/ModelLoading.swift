// Loading a CMPC model for a command: checkpoint (any supported format) + optional configuration.
import Foundation
import ImageModel
import Tensor
import VideoModel

/// A message for the user, printed without a stack trace; the command exits non-zero.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}

/// Reads a checkpoint's float tensors by name (integer step counters and the like are skipped).
func readCheckpointTensors(_ path: String) throws -> [(name: String, value: Tensor)] {
    let arrays = try CheckpointFile.readAll(path)
    var out: [(name: String, value: Tensor)] = []
    for (name, array) in arrays where array.dtype == .float32 || array.dtype == .float64 {
        out.append((name, try array.tensor()))
    }
    return out
}

/// The model a checkpoint holds; `configPath` supplies what the shapes do not (num_steps).
func loadModel(checkpoint: String, configPath: String?, numSteps: Int? = nil) throws -> CMPCModel {
    var base = ModelConfig()
    if let configPath { base = try ModelConfig.load(URL(fileURLWithPath: configPath)) }
    if let numSteps { base.numSteps = numSteps }
    let tensors = try readCheckpointTensors(checkpoint)
    return try CMPCModel(tensors: tensors, base: base, source: checkpoint)
}
