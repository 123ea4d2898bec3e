// OUT/curves.svg: the training curves drawn from train.jsonl's lines as a plain SVG file (no script, no external
// reference): the loss against step (each step faint, a moving average over it), and below, the pixel accuracy
// (all, positive) against step, with the overall and mean IoU of each --eval-split evaluation as points.

import Foundation

/// The two panels of curves.svg.
public struct TrainingCurves {
    public var lines: [TrainingLogLine]
    /// Steps drawn per polyline at most (longer runs are averaged into this many buckets).
    public var maximumPoints = 1200

    public init(lines: [TrainingLogLine]) {
        self.lines = lines
    }

    static let width = 880.0, panelHeight = 280.0
    static let left = 64.0, right = 150.0, top = 34.0, bottom = 40.0

    /// The SVG document.
    public func svg() -> String {
        let steps = lines.filter { $0.loss != nil }
        let evals = lines.compactMap { line in line.eval.map { (line.step, $0) } }
        let maxStep = max(1, (lines.map(\.step).max() ?? 1))
        let xAxis = Axis(low: 0, high: Double(maxStep), ticks: 6, integers: true)
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(Self.width))" height="\(Int(2 * Self.panelHeight))" \
            viewBox="0 0 \(Int(Self.width)) \(Int(2 * Self.panelHeight))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>

            """
        // Loss panel.
        let losses = steps.map { (Double($0.step), $0.loss!) }.filter { $0.1.isFinite }
        let lossAxis = Axis(low: 0, high: max(1e-6, losses.map(\.1).max() ?? 1), ticks: 5, integers: false)
        out += panel(y0: 0, title: "training loss (cls_loss)", x: xAxis, y: lossAxis, series: [
            Series(name: "loss", color: "#9ecae1", width: 1, points: bucketed(losses)),
            Series(name: "moving average", color: "#08519c", width: 2,
                   points: bucketed(movingAverage(losses, min(200, max(5, losses.count / 40))))),
        ], markers: [])
        // Accuracy and evaluation panel.
        let all = steps.compactMap { s in s.accuracy.map { (Double(s.step), $0.all) } }
        let positive = steps.compactMap { s in s.accuracy.map { (Double(s.step), $0.positive) } }
        var markers: [Series] = []
        if !evals.isEmpty {
            let split = evals.last!.1.split
            markers = [
                Series(name: "\(split) overall IoU", color: "#d94801", width: 2,
                       points: evals.map { (Double($0.0), $0.1.overallIoU) }),
                Series(name: "\(split) mean IoU", color: "#6a51a3", width: 2,
                       points: evals.map { (Double($0.0), $0.1.meanIoU) }),
            ]
        }
        out += panel(y0: Self.panelHeight, title: "pixel accuracy" + (evals.isEmpty ? "" : " and evaluation IoU"),
                     x: xAxis, y: Axis(low: 0, high: 1, ticks: 5, integers: false), series: [
                        Series(name: "accuracy (all)", color: "#41ab5d", width: 1.5,
                               points: bucketed(movingAverage(all, 10))),
                        Series(name: "accuracy (positive)", color: "#fd8d3c", width: 1.5,
                               points: bucketed(movingAverage(positive, 10))),
                     ], markers: markers)
        out += "</svg>\n"
        return out
    }

    struct Series {
        var name: String
        var color: String
        var width: Double
        var points: [(Double, Double)]
    }

    /// A linear axis from `low` to `high` with about `ticks` round tick values.
    struct Axis {
        var low: Double
        var high: Double
        var tickValues: [Double]
        var integers: Bool

        init(low: Double, high: Double, ticks: Int, integers: Bool) {
            let raw = (high - low) / Double(max(1, ticks))
            let magnitude = pow(10, floor(log10(max(raw, 1e-12))))
            let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
            let roundedStep = integers ? max(1, step.rounded()) : step
            self.low = low
            self.integers = integers
            let count = max(1, Int(ceil((high - low) / roundedStep - 1e-9)))
            self.high = low + Double(count) * roundedStep
            tickValues = (0...count).map { low + Double($0) * roundedStep }
        }

        /// The tick value with as many decimals as the tick spacing needs (2500, 0.25, 0.002).
        func label(_ v: Double) -> String {
            guard !integers, tickValues.count > 1 else { return String(Int(v.rounded())) }
            let spacing = tickValues[1] - tickValues[0]
            var decimals = 0
            while decimals < 8, abs(spacing * pow(10, Double(decimals)) - (spacing * pow(10, Double(decimals))).rounded()) > 1e-6 {
                decimals += 1
            }
            return String(format: "%.\(decimals)f", v)
        }
    }

    func panel(y0: Double, title: String, x: Axis, y: Axis, series: [Series], markers: [Series]) -> String {
        let plotW = Self.width - Self.left - Self.right, plotH = Self.panelHeight - Self.top - Self.bottom
        let px = { (v: Double) in Self.left + (v - x.low) / (x.high - x.low) * plotW }
        let py = { (v: Double) in y0 + Self.top + plotH - (min(max(v, y.low), y.high) - y.low) / (y.high - y.low) * plotH }
        let f = { (v: Double) in String(format: "%.1f", v) }
        var out = "<g>\n<text x=\"\(f(Self.left))\" y=\"\(f(y0 + 20))\" font-size=\"14\" font-weight=\"bold\">\(escaped(title))</text>\n"
        for t in y.tickValues {
            out += "<line x1=\"\(f(Self.left))\" x2=\"\(f(Self.left + plotW))\" y1=\"\(f(py(t)))\" y2=\"\(f(py(t)))\" stroke=\"#e0e0e0\"/>"
            out += "<text x=\"\(f(Self.left - 6))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(y.label(t))</text>\n"
        }
        for t in x.tickValues {
            out += "<line x1=\"\(f(px(t)))\" x2=\"\(f(px(t)))\" y1=\"\(f(y0 + Self.top + plotH))\" y2=\"\(f(y0 + Self.top + plotH + 4))\" stroke=\"#444\"/>"
            out += "<text x=\"\(f(px(t)))\" y=\"\(f(y0 + Self.top + plotH + 18))\" text-anchor=\"middle\">\(x.label(t))</text>\n"
        }
        out += "<rect x=\"\(f(Self.left))\" y=\"\(f(y0 + Self.top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#444\"/>\n"
        out += "<text x=\"\(f(Self.left + plotW / 2))\" y=\"\(f(y0 + Self.panelHeight - 6))\" text-anchor=\"middle\">step</text>\n"
        for s in series where !s.points.isEmpty {
            let points = s.points.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"\(s.width)\" points=\"\(points)\"/>\n"
        }
        for m in markers {
            if m.points.count > 1 {
                let points = m.points.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ")
                out += "<polyline fill=\"none\" stroke=\"\(m.color)\" stroke-width=\"1\" stroke-dasharray=\"4 3\" points=\"\(points)\"/>\n"
            }
            for p in m.points {
                out += "<circle cx=\"\(f(px(p.0)))\" cy=\"\(f(py(p.1)))\" r=\"4\" fill=\"\(m.color)\"><title>step \(Int(p.0)): \(String(format: "%.4f", p.1))</title></circle>\n"
            }
        }
        // Legend, right of the plot.
        for (i, s) in (series + markers).enumerated() {
            let ly = y0 + Self.top + 10 + Double(i) * 18
            out += "<line x1=\"\(f(Self.left + plotW + 10))\" x2=\"\(f(Self.left + plotW + 28))\" y1=\"\(f(ly))\" y2=\"\(f(ly))\" stroke=\"\(s.color)\" stroke-width=\"3\"/>"
            out += "<text x=\"\(f(Self.left + plotW + 32))\" y=\"\(f(ly + 4))\">\(escaped(s.name))</text>\n"
        }
        return out + "</g>\n"
    }

    /// Averages of runs of points so that at most `maximumPoints` remain.
    func bucketed(_ points: [(Double, Double)]) -> [(Double, Double)] {
        guard points.count > maximumPoints else { return points }
        let size = (points.count + maximumPoints - 1) / maximumPoints
        return stride(from: 0, to: points.count, by: size).map { start in
            let chunk = points[start..<min(points.count, start + size)]
            return (chunk.map(\.0).reduce(0, +) / Double(chunk.count), chunk.map(\.1).reduce(0, +) / Double(chunk.count))
        }
    }

    /// The mean of each point's last `window` values (fewer at the start).
    func movingAverage(_ points: [(Double, Double)], _ window: Int) -> [(Double, Double)] {
        var sum = 0.0
        return points.indices.map { i in
            sum += points[i].1
            if i >= window { sum -= points[i - window].1 }
            return (points[i].0, sum / Double(min(i + 1, window)))
        }
    }

    func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
