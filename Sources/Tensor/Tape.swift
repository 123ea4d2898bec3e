// Tape: reverse-mode automatic differentiation.
//
// Every op computes its forward value and, only when one of its inputs carries a tape node and
// recording is on, attaches a node holding a pullback: a closure that maps the gradient of the
// op's output to the gradients of its inputs. Inference (no input has a node) creates nothing.
//
//     var w = Tensor.uniform(shape: [3, 3], using: &rng).trackingGradients()   // a leaf
//     let loss = try (matmul(x, w) * matmul(x, w)).sum()
//     let (dw) = try Tape.gradients(of: loss, wrt: [w])[0]
//
// Nodes are numbered in creation order; inputs are always older than outputs, so walking the
// reachable nodes from the newest to the oldest is a valid reverse topological order.

import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One recorded operation (or a leaf variable) on the tape.
public final class TapeNode: @unchecked Sendable {
    /// Creation number; outputs are always newer than their inputs.
    let id: Int
    /// What produced it (op name, or the variable's name for leaves), for messages.
    public let label: String
    /// Shape of the value this node produced.
    public let shape: [Int]
    /// Nodes of the op's inputs, in the op's argument order (nil where an input has none).
    let inputs: [TapeNode?]
    /// Maps the output gradient to one gradient per input (nil: no gradient for that input).
    let pullback: ((Tensor) throws -> [Tensor?])?

    init(label: String, shape: [Int], inputs: [TapeNode?], pullback: ((Tensor) throws -> [Tensor?])?) {
        self.id = Tape.nextID()
        self.label = label
        self.shape = shape
        self.inputs = inputs
        self.pullback = pullback
    }

    var isLeaf: Bool { pullback == nil }
}

/// Controls recording and runs back-propagation.
public enum Tape {
    private static let counter = Atomic<Int>(0)
    /// Per-thread nesting depth of `withoutRecording` (a thread-specific value), so one thread's
    /// back-propagation or evaluation does not switch recording off for the others.
    private static let disabledDepthKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    private static var disabledDepth: Int {
        get { Int(bitPattern: pthread_getspecific(disabledDepthKey)) }
        set { pthread_setspecific(disabledDepthKey, UnsafeRawPointer(bitPattern: newValue)) }
    }

    static func nextID() -> Int { counter.add(1, ordering: .relaxed).newValue }

    /// True unless the calling thread is inside `withoutRecording`.
    public static var isRecording: Bool { disabledDepth == 0 }

    /// Whether an op on these inputs would be recorded: recording is on and one of them tracks
    /// gradients. The inference-only kernels refuse such inputs; the blocks take their
    /// differentiable path then.
    public static func records(_ inputs: [Tensor?]) -> Bool {
        isRecording && inputs.contains { $0?.isTracked == true }
    }

    /// Runs `body` with recording off on the calling thread: results carry no nodes (evaluation
    /// inside training).
    public static func withoutRecording<R>(_ body: () throws -> R) rethrows -> R {
        disabledDepth += 1
        defer { disabledDepth -= 1 }
        return try body()
    }

    /// Gradients of `output` (summed with weights `seed`, default all ones) with respect to each
    /// tensor of `wrt`, which must carry nodes (see `trackingGradients`). A tensor that `output`
    /// does not depend on gets zeros.
    public static func gradients(of output: Tensor, wrt: [Tensor], seed: Tensor? = nil) throws -> [Tensor] {
        guard let root = output.node else {
            throw TensorError.invalidArgument(
                op: "Tape.gradients", reason: "the output was not recorded (no input tracks gradients)")
        }
        let seedGrad = seed ?? Tensor(shape: output.shape, repeating: 1)
        guard seedGrad.shape == output.shape else {
            throw TensorError.shapeMismatch(op: "Tape.gradients", shapes: [output.shape, seedGrad.shape],
                                            reason: "the seed must have the output's shape")
        }
        // Collect reachable nodes.
        var nodes: [TapeNode] = []
        var seen = Set<ObjectIdentifier>()
        var stack = [root]
        while let n = stack.popLast() {
            guard seen.insert(ObjectIdentifier(n)).inserted else { continue }
            nodes.append(n)
            for case let i? in n.inputs { stack.append(i) }
        }
        nodes.sort { $0.id > $1.id }
        let wanted = Set(wrt.compactMap { $0.node.map(ObjectIdentifier.init) })
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seedGrad]
        var leafGrads: [ObjectIdentifier: Tensor] = [:]
        try withoutRecording {
            for n in nodes {
                let key = ObjectIdentifier(n)
                guard let g = grads.removeValue(forKey: key) else { continue }
                if wanted.contains(key) { leafGrads[key] = g }
                guard let pullback = n.pullback else { continue }
                let inputGrads = try pullback(g)
                precondition(inputGrads.count == n.inputs.count,
                             "Tape: pullback of \(n.label) returned \(inputGrads.count) gradients for \(n.inputs.count) inputs")
                for (inputNode, ig) in zip(n.inputs, inputGrads) {
                    guard let inputNode, let ig else { continue }
                    guard ig.shape == inputNode.shape else {
                        throw TensorError.shapeMismatch(
                            op: "Tape(\(n.label) backward)", shapes: [inputNode.shape, ig.shape],
                            reason: "gradient shape differs from the input's")
                    }
                    let k = ObjectIdentifier(inputNode)
                    if var acc = grads[k] {
                        grads[k] = nil
                        acc.accumulate(ig)
                        grads[k] = acc
                    } else {
                        grads[k] = ig.detached
                    }
                }
            }
        }
        return wrt.map { t in
            if let n = t.node, let g = leafGrads[ObjectIdentifier(n)] { return g }
            return Tensor(shape: t.shape)
        }
    }
}

extension Tensor {
    /// A copy of this tensor that is a leaf of the tape: gradients can be asked for it.
    public func trackingGradients(label: String = "variable") -> Tensor {
        var t = self
        t.node = TapeNode(label: label, shape: shape, inputs: [], pullback: nil)
        return t
    }

    /// Whether this tensor carries a tape node.
    public var isTracked: Bool { node != nil }

    /// Attaches a node for an op's result when recording is on and an input is tracked.
    /// Ops call this once with their forward value; the pullback runs with recording off.
    public static func recorded(
        _ result: Tensor, op: String, inputs: [Tensor],
        pullback: @escaping (Tensor) throws -> [Tensor?]
    ) -> Tensor {
        guard Tape.records(inputs) else { return result }
        var r = result
        r.attachNode(op: op, inputs: inputs, pullback: pullback)
        return r
    }

    mutating func attachNode(op: String, inputs: [Tensor], pullback: @escaping (Tensor) throws -> [Tensor?]) {
        node = TapeNode(label: op, shape: shape, inputs: inputs.map(\.node), pullback: pullback)
    }

    /// self += other, elementwise, same shapes; no recording (used to sum gradients).
    mutating func accumulate(_ other: Tensor) {
        precondition(shape == other.shape)
        scalars.withUnsafeMutableBufferPointer { a in
            other.scalars.withUnsafeBufferPointer { b in
                for i in a.indices { a[i] += b[i] }
            }
        }
    }
}
