import Testing
@testable import Tensor

@Suite struct PoolTests {
    struct PoolCase: CustomTestStringConvertible, Sendable {
        let name: String
        let window: (Int, Int), strides: (Int, Int), padding: Padding
        var testDescription: String { name }
    }

    static let fixtureCases: [PoolCase] = [
        PoolCase(name: "pool_same_s2", window: (3, 3), strides: (2, 2), padding: .same),
        PoolCase(name: "pool_same_s2_even", window: (3, 3), strides: (2, 2), padding: .same),
        PoolCase(name: "pool_valid_s2", window: (3, 3), strides: (2, 2), padding: .valid),
        PoolCase(name: "pool_same_s1", window: (2, 2), strides: (1, 1), padding: .same),
        PoolCase(name: "pool_ties", window: (3, 3), strides: (2, 2), padding: .same),
    ]

    @Test(arguments: fixtureCases)
    func matchesTensorFlow(_ c: PoolCase) throws {
        let x = try NPYFixture.load("\(c.name)_x").trackingGradients()
        let y = try maxPool2d(x, window: c.window, strides: c.strides, padding: c.padding)
        let dx = try Tape.gradients(of: y, wrt: [x], seed: NPYFixture.load("\(c.name)_dy"))[0]
        let dy0 = expectClose(y, try NPYFixture.load("\(c.name)_y"), "\(c.name) y")
        let dx0 = expectClose(dx, try NPYFixture.load("\(c.name)_dx"), "\(c.name) dx")
        print("fixture \(c.name): max diff y \(dy0), dx \(dx0)")
    }

    /// Distinct values at least 0.05 apart, so a finite-difference step never changes a window's argmax.
    static func distinct(_ shape: [Int], seed: UInt64) throws -> Tensor {
        var rng = SplitMix64(seed: seed)
        let count = shape.reduce(1, *)
        return try Tensor(shape: shape, scalars: (0..<count).map { Float($0) * 0.05 - 1 }.shuffled(using: &rng))
    }

    @Test(arguments: [
        PoolCase(name: "3x3 s2 same odd", window: (3, 3), strides: (2, 2), padding: .same),
        PoolCase(name: "3x3 s2 same even", window: (3, 3), strides: (2, 2), padding: .same),
        PoolCase(name: "3x3 s2 valid", window: (3, 3), strides: (2, 2), padding: .valid),
        PoolCase(name: "2x3 s1 same", window: (2, 3), strides: (1, 1), padding: .same),
        PoolCase(name: "2x2 s2 valid", window: (2, 2), strides: (2, 2), padding: .valid),
    ])
    func gradientsMatchFiniteDifferences(_ c: PoolCase) throws {
        let x = try Self.distinct(c.name.hasSuffix("even") ? [1, 8, 8, 3] : [2, 7, 9, 3], seed: 9)
        try checkGradients("maxPool2d \(c.name)", inputs: [x], tolerance: 1e-3) { xs in
            try maxPool2d(xs[0], window: c.window, strides: c.strides, padding: c.padding)
        }
    }

    @Test func samePaddingNeverWinsAndTiesGoToTheFirst() throws {
        // All-negative input: a zero pad would win; TensorFlow pads with −∞.
        let x = try Tensor(shape: [1, 2, 2, 1], scalars: [-4, -3, -2, -1]).trackingGradients()
        let y = try maxPool2d(x, window: (3, 3), strides: (2, 2), padding: .same)
        #expect(y.shape == [1, 1, 1, 1] && y.scalars == [-1])
        let t = try Tensor(shape: [1, 2, 2, 1], scalars: [5, 5, 5, 5]).trackingGradients()
        let dx = try Tape.gradients(of: maxPool2d(t, window: (2, 2), strides: (2, 2), padding: .valid), wrt: [t])[0]
        #expect(dx.scalars == [1, 0, 0, 0])
    }

    @Test func badArgumentsThrow() {
        let x = Tensor(shape: [1, 4, 4, 2])
        #expect(throws: TensorError.self) { try maxPool2d(x, window: (5, 5), strides: (1, 1), padding: .valid) }
        #expect(throws: TensorError.self) { try maxPool2d(x, window: (0, 2), strides: (1, 1), padding: .same) }
        #expect(throws: TensorError.self) { try maxPool2d(Tensor(shape: [4, 4, 2]), window: (2, 2), strides: (2, 2), padding: .same) }
    }
}
