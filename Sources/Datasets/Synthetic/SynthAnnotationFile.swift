// A2D Sentences frame annotations (a2d_annotation_with_instances/<vid>/<%05d>.h5), as written here.
//
// HDF5 datasets, shapes as h5py shows them (the original files were saved transposed, MATLAB-style):
//   instance  float64 (N)        the instance ids in the frame
//   reMask    uint8   (N, W, H)  one mask per instance, transposed; (W, H) when N = 1;
//                                deflate-compressed in one chunk
//   reBBox    float64 (4, N)     x1, y1, x2, y2 per instance (0-based pixels, x2/y2 exclusive)
//   id        float64 (1, N)     A2D-style actor-action labels (actor digit · 10 + action digit)
// Object modification times are not stored, so the same content gives the same bytes.
import Foundation
import FileOutput

/// One annotated frame: every visible actor's mask, as the h5 file holds it.
public struct SynthFrameAnnotation: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var instances: [Int]
    /// One H×W mask of 0/1 per instance (row-major, not transposed).
    public var masks: [[UInt8]]
    public var labels: [Int]

    public init(width: Int, height: Int, instances: [Int], masks: [[UInt8]], labels: [Int]) {
        self.width = width
        self.height = height
        self.instances = instances
        self.masks = masks
        self.labels = labels
    }

    /// The masks transposed as reMask stores them: N×W×H, value [k][x][y] = mask k at row y, column x.
    public var transposedMasks: [UInt8] {
        var out = [UInt8](repeating: 0, count: masks.count * width * height)
        for (k, m) in masks.enumerated() {
            let base = k * width * height
            for y in 0..<height {
                for x in 0..<width where m[y * width + x] != 0 { out[base + x * height + y] = 1 }
            }
        }
        return out
    }

    /// Boxes as reBBox stores them: 4×N (row 0 all x1, row 1 all y1, …); an empty mask gives zeros.
    public var boxes: [Double] {
        let n = masks.count
        var out = [Double](repeating: 0, count: 4 * n)
        for (k, m) in masks.enumerated() {
            var (x1, y1, x2, y2) = (width, height, 0, 0)
            for y in 0..<height {
                for x in 0..<width where m[y * width + x] != 0 {
                    x1 = min(x1, x); y1 = min(y1, y); x2 = max(x2, x + 1); y2 = max(y2, y + 1)
                }
            }
            if x2 == 0 { (x1, y1) = (0, 0) }
            out[k] = Double(x1); out[n + k] = Double(y1); out[2 * n + k] = Double(x2); out[3 * n + k] = Double(y2)
        }
        return out
    }
}

/// Writes `SynthFrameAnnotation`s as A2D h5 files (through `HDF5Writer`).
public enum SynthAnnotationFile {
    /// Writes one frame annotation to `path` (a temporary file beside it, renamed on success).
    public static func write(_ a: SynthFrameAnnotation, to path: String) throws {
        let n = a.instances.count
        guard n > 0, a.masks.count == n, a.labels.count == n, a.width > 0, a.height > 0,
              a.masks.allSatisfy({ $0.count == a.width * a.height }) else {
            throw SyntheticError(what: path, reason: "\(n) instances, \(a.masks.count) masks and \(a.labels.count) "
                                 + "labels do not make a \(a.width)x\(a.height) annotation")
        }
        let w = try HDF5Writer(path: path)
        try w.write("instance", shape: [n], values: a.instances.map(Double.init))
        try w.write("reMask", shape: n == 1 ? [a.width, a.height] : [n, a.width, a.height],
                    values: a.transposedMasks.map(Double.init), as: .uint8, deflate: 6)
        try w.write("reBBox", shape: [4, n], values: a.boxes)
        try w.write("id", shape: [1, n], values: a.labels.map(Double.init))
        try w.close()
    }
}

/// Writes bytes to `path` through a temporary file in the same folder (FileOutput's AtomicFile).
func writeAtomically(_ data: Data, to path: String) throws {
    do { try AtomicFile.write(data, to: path) } catch let error as AtomicWriteError {
        throw SyntheticError(what: error.file, reason: error.problem)
    }
}
