// A2D Sentences frame annotations (a2d_annotation_with_instances/<vid>/<%05d>.h5), as written here.
//
// HDF5 datasets, shapes as h5py shows them (the original files were saved transposed, MATLAB-style):
//   instance  float64 (N)        the instance ids in the frame
//   reMask    uint8   (N, W, H)  one mask per instance, transposed; (W, H) when N = 1;
//                                deflate-compressed in one chunk
//   reBBox    float64 (4, N)     x1, y1, x2, y2 per instance (0-based pixels, x2/y2 exclusive)
//   id        float64 (1, N)     A2D-style actor-action labels (actor digit · 10 + action digit)
// Object modification times are not stored, so the same content gives the same bytes.
import CHDF5
import Foundation

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

/// Writes `SynthFrameAnnotation`s as A2D h5 files through libhdf5.
public enum SynthAnnotationFile {
    /// libhdf5 is not thread-safe in the Debian build: one call at a time.
    private static let lock = NSLock()

    /// Writes one frame annotation to `path` (a temporary file beside it, renamed on success).
    public static func write(_ a: SynthFrameAnnotation, to path: String) throws {
        let n = a.instances.count
        guard n > 0, a.masks.count == n, a.labels.count == n, a.width > 0, a.height > 0,
              a.masks.allSatisfy({ $0.count == a.width * a.height }) else {
            throw SyntheticError(what: path, reason: "\(n) instances, \(a.masks.count) masks and \(a.labels.count) "
                                 + "labels do not make a \(a.width)x\(a.height) annotation")
        }
        let tmp = temporaryPath(for: path)
        do {
            try lock.withLock {
                let file = H5Fcreate(tmp, swift_H5F_ACC_TRUNC(), swift_H5P_DEFAULT(), swift_H5P_DEFAULT())
                guard file >= 0 else { throw SyntheticError(what: path, reason: "libhdf5 cannot create the file") }
                var closed = false
                defer { if !closed { H5Fclose(file) } }
                let doubles = swift_H5T_NATIVE_DOUBLE(), bytes = swift_H5T_NATIVE_UINT8()
                try dataset(file, "instance", [n], a.instances.map(Double.init), type: doubles, path: path)
                let maskShape = n == 1 ? [a.width, a.height] : [n, a.width, a.height]
                try dataset(file, "reMask", maskShape, a.transposedMasks, type: bytes, compress: true, path: path)
                try dataset(file, "reBBox", [4, n], a.boxes, type: doubles, path: path)
                try dataset(file, "id", [1, n], a.labels.map(Double.init), type: doubles, path: path)
                closed = true
                guard H5Fclose(file) >= 0 else { throw SyntheticError(what: path, reason: "libhdf5 cannot close the file") }
            }
            try moveIntoPlace(tmp, path)
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }
    }

    /// Creates one dataset of `shape` and writes `values` (Double or UInt8) as the native `type`.
    private static func dataset<T>(_ file: hid_t, _ name: String, _ shape: [Int], _ values: [T], type: hid_t,
                                   compress: Bool = false, path: String) throws {
        var dims = shape.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(dims.count), &dims, nil)
        guard space >= 0 else { throw SyntheticError(what: path, reason: "libhdf5 cannot make a dataspace for \(name)") }
        defer { H5Sclose(space) }
        let dcpl = H5Pcreate(H5P_CLS_DATASET_CREATE_ID_g)
        guard dcpl >= 0 else { throw SyntheticError(what: path, reason: "libhdf5 cannot make a property list") }
        defer { H5Pclose(dcpl) }
        // No modification times: the same content gives the same bytes.
        H5Pset_obj_track_times(dcpl, false)
        if compress {
            H5Pset_chunk(dcpl, Int32(dims.count), &dims)
            H5Pset_deflate(dcpl, 6)
        }
        let dset = H5Dcreate2(file, name, type, space, swift_H5P_DEFAULT(), dcpl, swift_H5P_DEFAULT())
        guard dset >= 0 else { throw SyntheticError(what: path, reason: "libhdf5 cannot create dataset \(name)") }
        defer { H5Dclose(dset) }
        let rc = values.withUnsafeBytes {
            H5Dwrite(dset, type, swift_H5S_ALL(), swift_H5S_ALL(), swift_H5P_DEFAULT(), $0.baseAddress)
        }
        guard rc >= 0 else { throw SyntheticError(what: path, reason: "libhdf5 cannot write dataset \(name)") }
    }
}

/// `dir/.name.tmp`: the temporary file a writer fills before renaming it to `path`.
func temporaryPath(for path: String) -> String {
    let url = URL(fileURLWithPath: path)
    return url.deletingLastPathComponent().appendingPathComponent("." + url.lastPathComponent + ".tmp").path
}

/// Renames a finished temporary file to its final name, replacing an older file.
func moveIntoPlace(_ tmp: String, _ path: String) throws {
    guard rename(tmp, path) == 0 else {
        throw SyntheticError(what: path, reason: "cannot rename the finished file into place (errno \(errno))")
    }
}

/// Writes bytes to `path` through a temporary file in the same folder.
func writeAtomically(_ data: Data, to path: String) throws {
    let tmp = temporaryPath(for: path)
    do {
        try data.write(to: URL(fileURLWithPath: tmp))
        try moveIntoPlace(tmp, path)
    } catch {
        try? FileManager.default.removeItem(atPath: tmp)
        throw SyntheticError(what: path, reason: "cannot write: \(error)")
    }
}
