// Named timing sections, for finding where a network's time goes (as PyTorch's record_function):
// blocks wrap their work in `Profiler.section("MutanFusion") { … }`; while `Profiler.enabled` is
// set, each section adds its wall time, the sgemm FLOPs made inside it and one call to a table;
// nested sections count in both (times are inclusive). Disabled, a section costs one branch.
// `cmpc-video bench image-model --blocks` prints the table.
import Dispatch
import Foundation

public enum Profiler {
    /// One section's totals.
    public struct Entry: Sendable, Equatable {
        public var seconds: Double = 0
        public var flops: Int = 0
        public var calls: Int = 0
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var on = false
    nonisolated(unsafe) private static var table: [String: Entry] = [:]
    nonisolated(unsafe) private static var order: [String] = []

    /// Whether sections are recorded.
    public static var enabled: Bool {
        get { lock.lock(); defer { lock.unlock() }; return on }
        set { lock.lock(); on = newValue; lock.unlock() }
    }

    /// Clears the table.
    public static func reset() {
        lock.lock()
        table = [:]
        order = []
        lock.unlock()
    }

    /// The sections in the order they were first entered, with their totals.
    public static var entries: [(name: String, entry: Entry)] {
        lock.lock()
        defer { lock.unlock() }
        return order.map { ($0, table[$0]!) }
    }

    /// Runs `body`, recording it under `name` while enabled.
    @inline(__always)
    public static func section<T>(_ name: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        guard on else { return try body() }
        let key = name()
        lock.lock()
        if table[key] == nil {
            table[key] = Entry()
            order.append(key)
        }
        lock.unlock()
        let t0 = DispatchTime.now().uptimeNanoseconds
        let f0 = BLAS.flopCount
        defer {
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            let df = BLAS.flopCount - f0
            lock.lock()
            table[key]!.seconds += dt
            table[key]!.flops += df
            table[key]!.calls += 1
            lock.unlock()
        }
        return try body()
    }
}
