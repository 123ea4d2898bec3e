// Terminal support for the command-line tool's long runs (evaluate, segment, train): progress on stderr, and a
// Ctrl-C (or SIGTERM) that stops a run between two samples. The libraries never draw or catch signals; they take a
// progress observer and a stop question (Evaluation's `RunProgress` and `shouldStop`) that this code answers.
//
// On a terminal: one redrawn line, `  37% [#########----------------] 1234/3337  1.52/s  ETA 23:04  errors 1`;
// otherwise (a batch job's log): a plain line every `interval` seconds and one at the end; `quiet`: nothing.

import Dispatch
import Foundation

/// Reports `done / total` with the rate and the time left.
public final class ProgressReporter {
    public enum Style: Equatable, Sendable {
        /// A bar redrawn in place (a terminal).
        case bar
        /// A plain line every `interval` seconds (logs of batch jobs).
        case lines(interval: Double)
        case quiet

        /// `.bar` when stderr is a terminal, else `.lines(interval:)`; `.quiet` when asked.
        public static func automatic(quiet: Bool, interval: Double = 30) -> Style {
            quiet ? .quiet : (isatty(STDERR_FILENO) != 0 ? .bar : .lines(interval: interval))
        }
    }

    public let total: Int
    public let style: Style
    /// Samples done before this run (resumed): not in the rate.
    public let initial: Int
    public private(set) var done: Int
    public private(set) var errors = 0
    /// What is counted, shown with the rate ("frames" → "12.50 frames/s"); nil shows "12.50/s".
    public var unit: String?
    private let label: String
    private let output: (String) -> Void
    private let clock: () -> Double
    private let start: Double
    private var lastDraw = -Double.infinity

    /// `output` receives text as it should appear on stderr; `clock` gives seconds (monotonic).
    public init(total: Int, initial: Int = 0, style: Style, label: String = "evaluate",
                output: @escaping (String) -> Void = ProgressReporter.standardError,
                clock: @escaping () -> Double = ProgressReporter.monotonicSeconds) {
        self.total = max(0, total)
        self.initial = min(max(0, initial), self.total)
        self.done = self.initial
        self.style = style
        self.label = label
        self.output = output
        self.clock = clock
        self.start = clock()
    }

    /// Counts finished samples (`failed` of them could not be evaluated) and redraws when due.
    public func advance(by count: Int = 1, failed: Int = 0) {
        done = min(total, done + count)
        errors += failed
        let now = clock()
        switch style {
        case .quiet: return
        case .bar:
            if now - lastDraw >= 0.1 || done == total { lastDraw = now; output("\r" + line(now: now, bar: true)) }
        case .lines(let interval):
            if lastDraw == -.infinity { lastDraw = start }
            if now - lastDraw >= interval { lastDraw = now; output(line(now: now, bar: false) + "\n") }
        }
    }

    /// Ends the display: the bar gets its newline; plain lines get a last line.
    public func finish() {
        switch style {
        case .quiet: return
        case .bar: output("\r" + line(now: clock(), bar: true) + "\n")
        case .lines: output(line(now: clock(), bar: false) + "\n")
        }
    }

    /// Samples a second over this run (nil before the first sample).
    public func rate(now: Double) -> Double? {
        let elapsed = now - start
        let n = done - initial
        return n > 0 && elapsed > 0 ? Double(n) / elapsed : nil
    }

    /// The status line at time `now`.
    public func line(now: Double, bar: Bool) -> String {
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        var parts: [String] = []
        if bar {
            let width = 28
            let filled = min(width, Int(fraction * Double(width)))
            parts.append(String(format: "%4.0f%%", fraction * 100) + " [" + String(repeating: "#", count: filled)
                         + String(repeating: "-", count: width - filled) + "]")
        } else {
            parts.append(label + ":" + String(format: " %.0f%%", fraction * 100))
        }
        parts.append("\(done)/\(total)")
        if let r = rate(now: now) {
            let u = unit.map { " " + $0 } ?? ""
            parts.append(r >= 1 ? String(format: "%.2f%@/s", r, u) : String(format: "%.2fs each", 1 / r))
            parts.append("ETA " + Self.duration(Double(total - done) / r))
        } else {
            parts.append("ETA -")
        }
        if errors > 0 { parts.append("errors \(errors)") }
        return parts.joined(separator: "  ")
    }

    /// `h:mm:ss` (or `m:ss` under an hour).
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-" }
        let s = Int(seconds.rounded())
        let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, sec) : String(format: "%d:%02d", m, sec)
    }

    /// Writes to stderr unbuffered.
    public static let standardError: (String) -> Void = { text in
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Seconds since an arbitrary origin, monotonic.
    public static let monotonicSeconds: () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}

/// A request to stop between two samples, set from a signal or directly.
public final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    private var signalSeen: Int32?
    private var signals: [Int32] = []

    public init() {}

    public var isRequested: Bool { lock.lock(); defer { lock.unlock() }; return requested }

    /// The signal that asked to stop, if one did.
    public var signalNumber: Int32? { lock.lock(); defer { lock.unlock() }; return signalSeen }

    public func request(signal: Int32? = nil) {
        lock.lock()
        requested = true
        if signalSeen == nil { signalSeen = signal }
        lock.unlock()
    }

    /// A request set by SIGINT (Ctrl-C) or SIGTERM (Slurm at the time limit, Kubernetes evicting a pod): the first
    /// signal asks to stop after the current sample (`onFirst` gets its number, e.g. to print a note); a second one
    /// exits at once with status 128 + signal (the log then holds complete lines plus at most one partial line,
    /// which the next run drops).
    public static func onSignals(_ signals: [Int32] = [SIGINT, SIGTERM],
                                 onFirst: @escaping @Sendable (Int32) -> Void = { _ in }) -> StopRequest {
        let stop = StopRequest()
        stop.signals = signals
        SignalPipe.listen(stop, signals: signals) { number in
            if stop.signalNumber != nil { exit(128 + number) }
            stop.request(signal: number)
            onFirst(number)
        }
        return stop
    }

    /// Stops listening; a signal nobody listens to gets its default action back.
    public func uninstall() {
        SignalPipe.stopListening(self, signals: signals)
        signals = []
    }
}

/// Signal plumbing that is safe on Linux and macOS alike: a C handler writes the signal number to a pipe (write(2)
/// is async-signal-safe); a dispatch read source on the other end calls the listeners on a normal thread.
/// (A dispatch signal source alone misses process-directed signals on Linux unless every thread blocks them.)
private enum SignalPipe {
    static let lock = NSLock()
    static var readSource: DispatchSourceRead?
    static var listeners: [(owner: ObjectIdentifier, signals: [Int32], handler: (Int32) -> Void)] = []

    static func listen(_ owner: AnyObject, signals: [Int32], handler: @escaping (Int32) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        if readSource == nil {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { return }
            for fd in fds {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
            signalPipeWriteEnd = fds[1]
            let source = DispatchSource.makeReadSource(fileDescriptor: fds[0], queue: .global())
            source.setEventHandler { drain(fds[0]) }
            source.resume()
            readSource = source
        }
        listeners.append((ObjectIdentifier(owner), signals, handler))
        for number in signals { signal(number, signalPipeHandler) }
    }

    static func stopListening(_ owner: AnyObject, signals: [Int32]) {
        lock.lock()
        defer { lock.unlock() }
        listeners.removeAll { $0.owner == ObjectIdentifier(owner) }
        for number in signals where !listeners.contains(where: { $0.signals.contains(number) }) {
            signal(number, SIG_DFL)
        }
    }

    static func drain(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            for byte in buffer[0..<n] {
                let number = Int32(byte)
                lock.lock()
                let handlers = listeners.filter { $0.signals.contains(number) }.map(\.handler)
                lock.unlock()
                for handler in handlers { handler(number) }
            }
        }
    }
}

/// The pipe's write end, read by the C handler (set before any handler is installed).
private var signalPipeWriteEnd: Int32 = -1

private let signalPipeHandler: @convention(c) (Int32) -> Void = { number in
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: number)
    _ = write(signalPipeWriteEnd, &byte, 1)
    errno = saved
}
