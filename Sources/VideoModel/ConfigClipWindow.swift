// The clip window a configuration's video network reads: Video.ClipWindow, with single_frame
// taken from the configuration's ablation.

import ImageModel
import Video

extension ModelConfig {
    /// The clip window this configuration's network reads in a video of `frameCount` frames
    /// (single_frame for that baseline).
    public func clipWindow(frameCount: Int) throws -> ClipWindow {
        try ClipWindow(frameCount: frameCount, singleFrame: ablation == .singleFrame)
    }
}
