// DAVISUnsupervised and LinearSumAssignment pinned to the DAVIS 2017 toolkit's unsupervised evaluation and to
// scipy's linear_sum_assignment, from Tests/EvaluationTests/Fixtures/davis_unsupervised.npz (written by
// Tools/reference/make_davis_unsupervised_fixtures.py with the toolkit's DAVISEvaluation(task='unsupervised')).
// Also the Ref-DAVIS17 protocol's bookkeeping: expression sets and the label-map merge.
import Checkpoint
import Foundation
import Testing
@testable import Evaluation

/// The fixture's arrays by name (read once).
private let unsupervisedArrays: [String: TypedArray] = {
    guard let url = Bundle.module.url(forResource: "davis_unsupervised", withExtension: "npz", subdirectory: "Fixtures"),
          let arrays = try? NumPy.readNPZ(url) else { return [:] }
    return Dictionary(uniqueKeysWithValues: arrays.map { ($0.name, $0.array) })
}()

private func array(_ key: String) throws -> TypedArray {
    try #require(!unsupervisedArrays.isEmpty, "Fixtures/davis_unsupervised.npz is missing; run Tools/reference/make_davis_unsupervised_fixtures.py")
    return try #require(unsupervisedArrays[key], "davis_unsupervised.npz lacks \(key)")
}

private func labelMaps(_ a: TypedArray) throws -> [LabelMap] {
    try #require(a.dtype == .uint8 && a.shape.count == 3, "label maps are uint8 (T, H, W), got \(a)")
    let (t, h, w) = (a.shape[0], a.shape[1], a.shape[2])
    return try (0..<t).map { try LabelMap(width: w, height: h, labels: Array(a.bytes[($0 * h * w)..<(($0 + 1) * h * w)])) }
}

/// The fixture's sequences, in the toolkit's order (sorted names, as val.txt lists them).
private func sequenceNames() throws -> [String] {
    _ = try array("all.J")
    return unsupervisedArrays.keys.filter { $0.hasSuffix(".gt") }.map { String($0.dropLast(3)) }.sorted()
}

@Suite struct DAVISUnsupervisedTests {
    @Test func fixtureHoldsTheCraftedSequences() throws {
        let names = try sequenceNames()
        #expect(names == ["a-permuted", "b-missed", "c-extra", "d-void", "e-no-prediction", "f-ties", "g-thin-border"])
        // Several frame sizes among them.
        #expect(Set(try names.map { try array("\($0).gt").shape.dropFirst() }).count >= 5)
    }

    @Test func perObjectJAndFEqualTheToolkits() throws {
        for name in try sequenceNames() {
            let objects = try DAVISUnsupervised.evaluate(results: labelMaps(array("\(name).res")),
                                                         groundTruths: labelMaps(array("\(name).gt")))
            let j = try array("\(name).J").doubles(), f = try array("\(name).F").doubles()
            #expect(objects.count == j.count, "\(name): \(objects.count) objects, the toolkit \(j.count)")
            for (k, o) in objects.enumerated() where k < j.count {
                #expect(abs(o.j - j[k]) <= 1e-6, "\(name)_\(k + 1): J \(o.j), the toolkit \(j[k])")
                #expect(abs(o.f - f[k]) <= 1e-6, "\(name)_\(k + 1): F \(o.f), the toolkit \(f[k])")
            }
        }
    }

    @Test func setMeansEqualTheToolkits() throws {
        var all: [DAVISUnsupervised.ObjectScores] = []
        for name in try sequenceNames() {
            all += try DAVISUnsupervised.evaluate(results: labelMaps(array("\(name).res")),
                                                  groundTruths: labelMaps(array("\(name).gt")))
        }
        let (j, f, jf) = DAVISUnsupervised.summary(all)
        #expect(abs(j - (try array("all.J").doubles()[0])) <= 1e-6)
        #expect(abs(f - (try array("all.F").doubles()[0])) <= 1e-6)
        #expect(abs(jf - (try array("all.JF").doubles()[0])) <= 1e-6, "J&F \(jf)")
    }

    @Test func frameByFrameEqualsWholeSequence() throws {
        let name = "c-extra"
        let results = try labelMaps(array("\(name).res")), truths = try labelMaps(array("\(name).gt"))
        var sequence = DAVISUnsupervised.Sequence(proposals: 6)     // more rows than labels used: the same answer
        for (r, g) in zip(results, truths) { try sequence.add(result: r, groundTruth: g) }
        #expect(try sequence.finish() == DAVISUnsupervised.evaluate(results: results, groundTruths: truths))
    }

    @Test func refusesWhatTheToolkitRefuses() throws {
        let truth = try LabelMap(width: 2, height: 1, labels: [1, 0])
        var sequence = DAVISUnsupervised.Sequence(proposals: 30)
        #expect(throws: DAVISUnsupervisedError.tooManyProposals(21)) {
            try sequence.add(result: LabelMap(width: 2, height: 1, labels: [21, 0]), groundTruth: truth)
        }
        #expect(throws: DAVISMetricsError.self) {
            try DAVISUnsupervised.evaluate(results: [LabelMap(width: 1, height: 2)], groundTruths: [truth])
        }
        // An annotation prepared for another object count than the sequence's first frame gave.
        var counted = DAVISUnsupervised.Sequence(proposals: 1)
        try counted.add(result: LabelMap(width: 2, height: 1), groundTruth: truth)
        #expect(counted.objects == 1)
        #expect(throws: DAVISUnsupervisedError.objectCount(2, first: 1)) {
            try counted.add(result: LabelMap(width: 2, height: 1), groundTruth: DAVISUnsupervised.Annotation(truth, objects: 2))
        }
        var mixed = DAVISUnsupervised.Sequence(proposals: 1)
        try mixed.add(result: LabelMap(width: 2, height: 1), groundTruth: truth)
        #expect(throws: DAVISUnsupervisedError.self) {
            try mixed.add(result: LabelMap(width: 1, height: 2), groundTruth: LabelMap(width: 1, height: 2))
        }
    }
}

@Suite struct LinearSumAssignmentTests {
    @Test func equalsScipy() throws {
        let keys = unsupervisedArrays.keys.filter { $0.hasPrefix("lsap.") && $0.hasSuffix(".cost") }.sorted()
        try #require(keys.count >= 10, "davis_unsupervised.npz lacks the lsap cases")
        for key in keys {
            let base = String(key.dropLast(5))
            let c = try array(key)
            let (n, m) = (c.shape[0], c.shape[1])
            let values = try c.doubles()
            let cost = (0..<n).map { Array(values[($0 * m)..<(($0 + 1) * m)]) }
            let (rows, columns) = try LinearSumAssignment.solve(cost)
            #expect(rows == (try array(base + ".rows").int64s().map(Int.init)), "\(base) \(n)×\(m): rows")
            #expect(columns == (try array(base + ".cols").int64s().map(Int.init)), "\(base) \(n)×\(m): columns")
        }
    }

    @Test func refusesInvalidMatrices() throws {
        #expect(throws: LinearSumAssignment.Failure.self) { try LinearSumAssignment.solve([[1, .nan]]) }
        #expect(throws: LinearSumAssignment.Failure.infeasible) {
            try LinearSumAssignment.solve([[.infinity, .infinity], [1, 2]])
        }
        #expect(throws: LinearSumAssignment.Failure.self) { try LinearSumAssignment.solve([[1, 2], [3]]) }
        let empty = try LinearSumAssignment.solve([])
        #expect(empty.rows.isEmpty && empty.columns.isEmpty)
    }
}

@Suite struct RefDAVISProtocolTests {
    @Test func expressionSetsInterleaveAsReferFormer() {
        // 3 objects × 4 expressions, plus 2 left over (ReferFormer's num_obj = count // 4 leaves them out).
        #expect(RefDAVISProtocol.expressions(set: 0, count: 14) == [0, 4, 8])
        #expect(RefDAVISProtocol.expressions(set: 3, count: 14) == [3, 7, 11])
        #expect(RefDAVISProtocol.expressions(set: 1, count: 3) == [])
        #expect(RefDAVISProtocol.sets.map(\.annotator) == [1, 1, 2, 2])
    }

    @Test func mergeGivesOverlapsToTheHighestScoreFirstOnTies() throws {
        let a = try PixelMask(width: 4, height: 1, pixels: [1, 1, 1, 0])
        let b = try PixelMask(width: 4, height: 1, pixels: [0, 1, 1, 0])
        let c = try PixelMask(width: 4, height: 1, pixels: [0, 0, 1, 1])
        let map = try RefDAVISProtocol.merge(masks: [a, b, c],
                                             scores: [[0.9, 0.6, 0.7, 0.1], [0.2, 0.8, 0.7, 0.2], [0.1, 0.1, 0.7, 0.55]],
                                             width: 4, height: 1)
        // Pixel 0: only a. Pixel 1: b's 0.8 beats a's 0.6. Pixel 2: a three-way tie goes to the first, a.
        // Pixel 3: c covers it (its mask), whatever a's score there.
        #expect(map.labels == [1, 2, 1, 3])
        #expect(try RefDAVISProtocol.merge(masks: [], scores: [], width: 2, height: 1).labels == [0, 0])
        #expect(throws: DAVISMetricsError.self) {
            try RefDAVISProtocol.merge(masks: [a], scores: [[0.5]], width: 4, height: 1)
        }
    }

    @Test func finalIsTheMeanOfTheSets() {
        typealias O = DAVISUnsupervised.ObjectScores
        let result = RefDAVISProtocol.Result(objects: [[O(j: 0.5, f: 0.7)], [O(j: 0.1, f: 0.3), O(j: 0.3, f: 0.5)],
                                                       [O(j: 1, f: 1)], []])
        #expect(result.set(1).j == 0.2 && result.set(1).f == 0.4)
        #expect(result.set(3).j.isNaN)   // a set without objects has no mean, as numpy's mean of nothing
        let three = RefDAVISProtocol.Result(objects: [[O(j: 0.5, f: 0.7)], [O(j: 0.2, f: 0.4)], [O(j: 1, f: 1)], [O(j: 0.3, f: 0.1)]])
        #expect(abs(three.final.j - 0.5) < 1e-15 && abs(three.final.f - 0.55) < 1e-15)
        #expect(abs(three.final.jf - 0.525) < 1e-15)
    }
}
