// From the network's H×W outputs to masks at the frame's size, with or without DenseCRF
// (the original's test script: threshold the up-sampled logits, resize_and_crop back to the frame;
// DenseCRF on σ(logits) and the padded 8-bit input image, then the same resize).
import Evaluation
import ImageModel

struct MaskPostprocess {
    let config: ModelConfig

    /// logits ≥ threshold, at the frame's size (0/1).
    func mask(logits: [Float], geometry g: PadGeometry, logitThreshold: Float = 0) -> [UInt8] {
        Preprocess.maskFromLogits(logits, threshold: logitThreshold, H: config.H, W: config.W, geometry: g)
    }

    /// DenseCRF's labels at the frame's size (0/1).
    func crfMask(probabilities: [Float], networkRGB: [UInt8], geometry g: PadGeometry) throws -> [UInt8] {
        let labels = try DenseCRF.refine(probabilities: probabilities, rgb: networkRGB, width: config.W, height: config.H).labels
        return Preprocess.maskToFrame(labels.map { Float($0) }, H: config.H, W: config.W,
                                      frameHeight: g.frameHeight, frameWidth: g.frameWidth)
    }
}
