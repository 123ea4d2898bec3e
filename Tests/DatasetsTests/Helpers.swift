import Evaluation
import Foundation
import Testing
@testable import Datasets

/// The path of a committed fixture (Tests/DatasetsTests/Fixtures, made by Tools/reference/make_dataset_fixtures.py).
func fixture(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let dir = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil), sourceLocation: sourceLocation)
    return dir.appendingPathComponent(name).path
}

/// A parsed JSON fixture.
func jsonFixture(_ name: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: try fixture(name))))
}

/// A fresh temporary folder, removed when the returned object is released.
final class TemporaryFolder {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "datasets-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes text to a path relative to the folder (creating folders) and returns the full path.
    @discardableResult
    func write(_ relative: String, _ text: String) throws -> String {
        try write(relative, Data(text.utf8))
    }

    @discardableResult
    func write(_ relative: String, _ data: Data) throws -> String {
        let full = (path as NSString).appendingPathComponent(relative)
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: full))
        return full
    }

    /// Copies a fixture to a path relative to the folder.
    @discardableResult
    func copy(fixture name: String, to relative: String) throws -> String {
        try write(relative, Data(contentsOf: URL(fileURLWithPath: try fixture(name))))
    }

    func sub(_ relative: String) -> String { (path as NSString).appendingPathComponent(relative) }
}

/// An expected mask from a JSON fixture entry {height, width, pixels (row-major)}.
func expectedMask(_ entry: Any?, sourceLocation: SourceLocation = #_sourceLocation) throws -> PixelMask {
    let d = try #require(entry as? [String: Any], sourceLocation: sourceLocation)
    let h = try #require(d["height"] as? Int, sourceLocation: sourceLocation)
    let w = try #require(d["width"] as? Int, sourceLocation: sourceLocation)
    let p = try #require(d["pixels"] as? [Int], sourceLocation: sourceLocation)
    return try PixelMask(width: w, height: h, pixels: p.map { UInt8($0) })
}

/// Expects `body` to throw a DatasetError whose description contains every fragment.
func expectDatasetError(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation,
                        _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error containing \(fragments)", sourceLocation: sourceLocation)
    } catch let e as DatasetError {
        for f in fragments {
            #expect(e.description.contains(f), "'\(e.description)' lacks '\(f)'", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected a DatasetError, got \(error)", sourceLocation: sourceLocation)
    }
}
