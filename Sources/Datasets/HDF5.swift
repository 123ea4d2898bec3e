// HDF5 through libhdf5: numeric datasets read as Double with their shape, and a small writer.
//
// Format: HDF5 (https://docs.hdfgroup.org/hdf5/). A dataset is an N-d array stored row-major
// (C order); `HDF5Array.shape` is the shape h5py reports. Any integer or float type is read
// through libhdf5's conversion to native double. This is the only file that talks to libhdf5.
// libhdf5 (the Debian serial build) is not thread-safe: every call goes through one lock.
import CHDF5
import Foundation
import FileOutput

/// A numeric HDF5 dataset read as Double: shape as h5py reports it, values row-major.
public struct HDF5Array: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Double]
    public var count: Int { values.count }
}

/// The element type an `HDF5Writer` stores.
public enum HDF5ElementType: Sendable {
    case float64, uint8, int32
}

private let hdf5Lock = NSLock()

private func withHDF5<T>(_ body: () throws -> T) rethrows -> T {
    hdf5Lock.lock()
    defer { hdf5Lock.unlock() }
    _ = swift_H5E_silence()
    return try body()
}

/// Reads numeric datasets from an HDF5 file.
public enum HDF5File {
    /// True when `path` starts with the HDF5 signature at offset 0, 512, 1024, … (MATLAB v7.3 uses 512).
    public static func isHDF5(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]
        var offset: UInt64 = 0
        while offset <= 8192 {
            do { try h.seek(toOffset: offset) } catch { return false }
            guard let d = try? h.read(upToCount: 8), d.count == 8 else { return false }
            if Array(d) == signature { return true }
            offset = offset == 0 ? 512 : offset * 2
        }
        return false
    }

    /// The names of the datasets and groups at the root of the file.
    public static func rootNames(_ path: String) throws -> [String] {
        try withHDF5 {
            let file = try open(path)
            defer { H5Fclose(file) }
            var info = H5G_info_t()
            guard H5Gget_info(file, &info) >= 0 else { throw DatasetError.unreadable(file: path, reason: "root group") }
            var names: [String] = []
            for i in 0..<info.nlinks {
                let n = H5Lget_name_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, swift_H5P_DEFAULT())
                guard n > 0 else { continue }
                var buf = [CChar](repeating: 0, count: Int(n) + 1)
                _ = H5Lget_name_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buf, Int(n) + 1, swift_H5P_DEFAULT())
                names.append(String(cString: buf))
            }
            return names
        }
    }

    /// Reads dataset `name` as Double. Throws naming the file when it is missing, not HDF5, or lacks the dataset.
    public static func read(_ path: String, dataset name: String, maxElements: Int = 1 << 28) throws -> HDF5Array {
        try withHDF5 {
            let file = try open(path)
            defer { H5Fclose(file) }
            guard H5Lexists(file, name, swift_H5P_DEFAULT()) > 0 else {
                throw DatasetError.malformed(file: path, reason: "no dataset '\(name)'")
            }
            let dset = H5Dopen2(file, name, swift_H5P_DEFAULT())
            guard dset >= 0 else { throw DatasetError.unreadable(file: path, reason: "cannot open dataset '\(name)'") }
            defer { H5Dclose(dset) }
            let type = H5Dget_type(dset)
            defer { H5Tclose(type) }
            let cls = H5Tget_class(type)
            guard cls == H5T_INTEGER || cls == H5T_FLOAT else {
                throw DatasetError.unsupported(file: path, reason: "dataset '\(name)' is not numeric (class \(cls.rawValue))")
            }
            let space = H5Dget_space(dset)
            guard space >= 0 else { throw DatasetError.unreadable(file: path, reason: "dataspace of '\(name)'") }
            defer { H5Sclose(space) }
            let rank = H5Sget_simple_extent_ndims(space)
            guard rank >= 0, rank <= 32 else { throw DatasetError.malformed(file: path, reason: "rank \(rank) of '\(name)'") }
            var dims = [hsize_t](repeating: 0, count: Int(rank))
            if rank > 0 { _ = H5Sget_simple_extent_dims(space, &dims, nil) }
            let shape = dims.map { Int($0) }
            var count = 1
            for d in shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o, p <= maxElements else {
                    throw DatasetError.invalidValue(file: path, what: "dataset '\(name)'", reason: "absurd shape \(shape)")
                }
                count = p
            }
            var values = [Double](repeating: 0, count: count)
            if count > 0 {
                let rc = values.withUnsafeMutableBytes {
                    H5Dread(dset, swift_H5T_NATIVE_DOUBLE(), swift_H5S_ALL(), swift_H5S_ALL(), swift_H5P_DEFAULT(),
                            $0.baseAddress)
                }
                guard rc >= 0 else {
                    throw DatasetError.unreadable(file: path, reason: "reading dataset '\(name)' failed (truncated or corrupt?)")
                }
            }
            return HDF5Array(shape: shape, values: values)
        }
    }

    private static func open(_ path: String) throws -> hid_t {
        guard FileManager.default.fileExists(atPath: path) else { throw DatasetError.missingFile(path) }
        let file = H5Fopen(path, swift_H5F_ACC_RDONLY_flags(), swift_H5P_DEFAULT())
        guard file >= 0 else {
            throw DatasetError.unreadable(file: path, reason: "not an HDF5 file, or truncated")
        }
        return file
    }
}

/// Writes numeric datasets into a new HDF5 file (temporary file, renamed on `close`).
///
///     let w = try HDF5Writer(path: "00010.h5")
///     try w.write("instance", shape: [2], values: [1, 2], as: .float64)
///     try w.close()
public final class HDF5Writer {
    public let path: String
    private let temporaryPath: String
    private var file: hid_t

    /// Creates (truncates) a temporary file next to `path`.
    public init(path: String) throws {
        self.path = path
        temporaryPath = AtomicFile.temporaryPath(for: path)
        let tmp = temporaryPath
        file = withHDF5 { H5Fcreate(tmp, swift_H5F_ACC_TRUNC(), swift_H5P_DEFAULT(), swift_H5P_DEFAULT()) }
        guard file >= 0 else { throw DatasetError.unwritable(file: path, reason: "cannot create HDF5 file") }
    }

    deinit {
        if file >= 0 {
            let f = file
            withHDF5 { _ = H5Fclose(f) }
            try? FileManager.default.removeItem(atPath: temporaryPath)
        }
    }

    /// Writes a dataset of the given shape (row-major values); `deflate` (0…9) stores it compressed in
    /// one chunk. No modification time is stored, so the same datasets give the same bytes.
    public func write(_ name: String, shape: [Int], values: [Double], as type: HDF5ElementType = .float64,
                      deflate: Int? = nil) throws {
        guard file >= 0 else { throw DatasetError.invalidValue(file: path, what: name, reason: "writer is closed") }
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
            throw DatasetError.invalidValue(file: path, what: name, reason: "\(values.count) values for shape \(shape)")
        }
        try withHDF5 {
            var dims = shape.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(shape.count), &dims, nil)
            guard space >= 0 else { throw DatasetError.invalidValue(file: path, what: name, reason: "dataspace") }
            defer { H5Sclose(space) }
            let fileType: hid_t
            switch type {
            case .float64: fileType = swift_H5T_IEEE_F64LE()
            case .uint8: fileType = swift_H5T_STD_U8LE()
            case .int32: fileType = swift_H5T_STD_I32LE()
            }
            let dcpl = H5Pcreate(H5P_CLS_DATASET_CREATE_ID_g)
            guard dcpl >= 0 else { throw DatasetError.invalidValue(file: path, what: name, reason: "property list") }
            defer { H5Pclose(dcpl) }
            H5Pset_obj_track_times(dcpl, false)
            if let level = deflate, !shape.isEmpty, !shape.contains(0) {
                H5Pset_chunk(dcpl, Int32(shape.count), &dims)
                H5Pset_deflate(dcpl, UInt32(max(0, min(9, level))))
            }
            let dset = H5Dcreate2(file, name, fileType, space, swift_H5P_DEFAULT(), dcpl, swift_H5P_DEFAULT())
            guard dset >= 0 else { throw DatasetError.invalidValue(file: path, what: name, reason: "cannot create dataset") }
            defer { H5Dclose(dset) }
            let rc = values.withUnsafeBytes {
                H5Dwrite(dset, swift_H5T_NATIVE_DOUBLE(), swift_H5S_ALL(), swift_H5S_ALL(), swift_H5P_DEFAULT(),
                         $0.baseAddress)
            }
            guard rc >= 0 else { throw DatasetError.invalidValue(file: path, what: name, reason: "write failed") }
        }
    }

    /// Closes the file and renames it into place.
    public func close() throws {
        guard file >= 0 else { return }
        let f = file
        file = -1
        let rc = withHDF5 { H5Fclose(f) }
        guard rc >= 0 else {
            try? FileManager.default.removeItem(atPath: temporaryPath)
            throw DatasetError.unwritable(file: path, reason: "closing the HDF5 file failed")
        }
        do { try AtomicFile.commit(temporaryPath, to: path) } catch let error as AtomicWriteError {
            throw DatasetError.unwritable(file: path, reason: error.problem)
        }
    }
}
