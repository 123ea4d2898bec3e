// From the network's H×W outputs to masks at the frame's size, with or without DenseCRF
// (the original's test script: threshold the up-sampled logits, resize_and_crop back to the frame;
// DenseCRF on σ(logits) and the padded 8-bit input image, then the same resize).

import Evaluation
import ImageModel

/// Turns one target's outputs into 0/1 masks at the frame's size.
public struct MaskPostprocess: Sendable {
    /// The network input height the outputs have.
    public let H: Int
    /// The network input width the outputs have.
    public let W: Int
    /// A pixel is foreground when its logit ≥ this (0, i.e. probability 0.5, as the original).
    public var logitThreshold: Float
    /// How the H×W map is resized back to the frame (resize_and_crop), as the frames were prepared.
    public var resize: ResizeMode

    /// Post-processing for `config`'s network input size.
    public init(config: ModelConfig, logitThreshold: Float = 0, resize: ResizeMode = .original) {
        H = config.H
        W = config.W
        self.logitThreshold = logitThreshold
        self.resize = resize
    }

    /// logits [H·W] ≥ the threshold, resize_and_crop'ped back to the frame.
    public func mask(logits: [Float], geometry g: PadGeometry) throws -> PixelMask {
        try PixelMask(width: g.frameWidth, height: g.frameHeight,
                      pixels: Preprocess.maskFromLogits(logits, threshold: logitThreshold, H: H, W: W, geometry: g,
                                                                resize: resize))
    }

    /// DenseCRF's labels from σ(logits) [H·W] and the padded RGB input [H·W·3], at the frame's size.
    public func crfMask(probabilities: [Float], networkRGB: [UInt8], geometry g: PadGeometry) throws -> PixelMask {
        let labels = try DenseCRF.refine(probabilities: probabilities, rgb: networkRGB, width: W, height: H).labels
        return try PixelMask(width: g.frameWidth, height: g.frameHeight,
                             pixels: Preprocess.maskToFrame(labels.map { Float($0) }, H: H, W: W,
                                                            frameHeight: g.frameHeight, frameWidth: g.frameWidth,
                                                            resize: resize))
    }
}
