// One step of TensorFlow 1.x's BasicLSTMCell, fused into one tape node.
//
// Legend: B batch, I input width, U units. z = [x, h]·kernel + bias is [B, 4U], split in gate
// order i, j, f, o:  c' = c·σ(f + forgetBias) + σ(i)·tanh(j),  h' = tanh(c')·σ(o).
// The fused node outputs [h', c'] side by side as [B, 2U]; `lstmCell` slices the two halves.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One BasicLSTMCell step: x [B, I], h and c [B, U], kernel [I+U, 4U], bias [4U] → (h', c'), each [B, U].
public func lstmCell(
    x: Tensor, h: Tensor, c: Tensor, kernel: Tensor, bias: Tensor, forgetBias: Float = 1.0
) throws -> (h: Tensor, c: Tensor) {
    guard x.rank == 2, h.rank == 2, c.rank == 2 else {
        throw TensorError.shapeMismatch(op: "lstmCell", shapes: [x.shape, h.shape, c.shape], reason: "x, h and c must be rank 2")
    }
    let (b, inDim, u) = (x.shape[0], x.shape[1], h.shape[1])
    guard h.shape == [b, u], c.shape == [b, u] else {
        throw TensorError.shapeMismatch(op: "lstmCell", shapes: [x.shape, h.shape, c.shape], reason: "h and c must be [batch, units]")
    }
    guard kernel.shape == [inDim + u, 4 * u], bias.shape == [4 * u] else {
        throw TensorError.shapeMismatch(op: "lstmCell", shapes: [kernel.shape, bias.shape],
                                        reason: "kernel must be [\(inDim + u), \(4 * u)] and bias [\(4 * u)]")
    }
    let k = inDim + u
    // xh = [x, h]: [B, I+U].
    var xh = [Float](repeating: 0, count: b * k)
    for r in 0..<b {
        for j in 0..<inDim { xh[r * k + j] = x.scalars[r * inDim + j] }
        for j in 0..<u { xh[r * k + inDim + j] = h.scalars[r * u + j] }
    }
    // gates: z, then σ(i), tanh(j), σ(f + forgetBias), σ(o) in place: [B, 4U].
    var gates = [Float](repeating: 0, count: b * 4 * u)
    var tc = [Float](repeating: 0, count: b * u)
    var out = Tensor(shape: [b, 2 * u])
    if b > 0 && u > 0 {
        try xh.withUnsafeBufferPointer { pxh in
            try kernel.scalars.withUnsafeBufferPointer { pk in
                try gates.withUnsafeMutableBufferPointer { pz in
                    if k > 0 {
                        try BLAS.sgemm(m: b, n: 4 * u, k: k, a: pxh.baseAddress!, lda: k,
                                       b: pk.baseAddress!, ldb: 4 * u, c: pz.baseAddress!, ldc: 4 * u)
                    }
                }
            }
        }
        gates.withUnsafeMutableBufferPointer { pz0 in
            tc.withUnsafeMutableBufferPointer { ptc0 in
                out.scalars.withUnsafeMutableBufferPointer { po0 in
                    bias.scalars.withUnsafeBufferPointer { pb0 in
                        c.scalars.withUnsafeBufferPointer { pc0 in
                            let pz = pz0.baseAddress!, ptc = ptc0.baseAddress!, po = po0.baseAddress!
                            let pb = pb0.baseAddress!, pc = pc0.baseAddress!
                            parallelFor(b * u, grain: 8_192) { range in
                                for e in range {
                                    let r = e / u, j = e % u, z = pz + r * 4 * u
                                    let si = sigmoidScalar(z[j] + pb[j])
                                    let tj = tanhf(z[u + j] + pb[u + j])
                                    let sf = sigmoidScalar(z[2 * u + j] + pb[2 * u + j] + forgetBias)
                                    let so = sigmoidScalar(z[3 * u + j] + pb[3 * u + j])
                                    z[j] = si; z[u + j] = tj; z[2 * u + j] = sf; z[3 * u + j] = so
                                    let cNew = pc[e] * sf + si * tj
                                    let t = tanhf(cNew)
                                    ptc[e] = t
                                    po[r * 2 * u + j] = t * so
                                    po[r * 2 * u + u + j] = cNew
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let cPrev = c.detached, kernelD = kernel.detached
    let want = [x, h, c, kernel, bias].map(\.isTracked)
    let packed = Tensor.recorded(out, op: "lstmCell", inputs: [x, h, c, kernel, bias]) { g in
        // dc = gc + gh·σo·(1 − tanh²c'); dz per gate; then the kernel, bias and [x, h] gradients.
        var dz = [Float](repeating: 0, count: b * 4 * u)
        var dc = Tensor(shape: [b, u])
        dz.withUnsafeMutableBufferPointer { pdz in
            dc.scalars.withUnsafeMutableBufferPointer { pdc in
                for e in 0..<(b * u) {
                    let r = e / u, j = e % u, z = r * 4 * u
                    let gh = g.scalars[r * 2 * u + j], gc = g.scalars[r * 2 * u + u + j]
                    let si = gates[z + j], tj = gates[z + u + j], sf = gates[z + 2 * u + j], so = gates[z + 3 * u + j]
                    let t = tc[e]
                    let dcell = gc + gh * so * (1 - t * t)
                    pdz[z + j] = dcell * tj * si * (1 - si)
                    pdz[z + u + j] = dcell * si * (1 - tj * tj)
                    pdz[z + 2 * u + j] = dcell * cPrev.scalars[e] * sf * (1 - sf)
                    pdz[z + 3 * u + j] = gh * t * so * (1 - so)
                    pdc[e] = dcell * sf
                }
            }
        }
        var gKernel: Tensor? = nil, gBias: Tensor? = nil, gx: Tensor? = nil, gh: Tensor? = nil
        if want[3] && b > 0 {
            var dk = Tensor(shape: [k, 4 * u])
            try xh.withUnsafeBufferPointer { pxh in
                try dz.withUnsafeBufferPointer { pdz in
                    try dk.scalars.withUnsafeMutableBufferPointer { pk in
                        try BLAS.sgemm(transA: true, m: k, n: 4 * u, k: b, a: pxh.baseAddress!, lda: k,
                                       b: pdz.baseAddress!, ldb: 4 * u, c: pk.baseAddress!, ldc: 4 * u)
                    }
                }
            }
            gKernel = dk
        } else if want[3] {
            gKernel = Tensor(shape: [k, 4 * u])
        }
        if want[4] {
            var db = [Float](repeating: 0, count: 4 * u)
            for r in 0..<b { for j in 0..<(4 * u) { db[j] += dz[r * 4 * u + j] } }
            gBias = try Tensor(shape: [4 * u], scalars: db)
        }
        if want[0] || want[1] {
            var dxh = [Float](repeating: 0, count: b * k)
            if b > 0 && k > 0 && u > 0 {
                try dz.withUnsafeBufferPointer { pdz in
                    try kernelD.scalars.withUnsafeBufferPointer { pk in
                        try dxh.withUnsafeMutableBufferPointer { pd in
                            try BLAS.sgemm(transB: true, m: b, n: k, k: 4 * u, a: pdz.baseAddress!, lda: 4 * u,
                                           b: pk.baseAddress!, ldb: 4 * u, c: pd.baseAddress!, ldc: k)
                        }
                    }
                }
            }
            var dxS = [Float](repeating: 0, count: b * inDim), dhS = [Float](repeating: 0, count: b * u)
            for r in 0..<b {
                for j in 0..<inDim { dxS[r * inDim + j] = dxh[r * k + j] }
                for j in 0..<u { dhS[r * u + j] = dxh[r * k + inDim + j] }
            }
            gx = want[0] ? try Tensor(shape: [b, inDim], scalars: dxS) : nil
            gh = want[1] ? try Tensor(shape: [b, u], scalars: dhS) : nil
        }
        return [gx, gh, want[2] ? dc : nil, gKernel, gBias]
    }
    let newH = try packed.slice(begin: [0, 0], size: [b, u])
    let newC = try packed.slice(begin: [0, u], size: [b, u])
    return (newH, newC)
}
