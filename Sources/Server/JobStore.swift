// JobStore: the jobs by id, the bounded queue and the worker threads that run them (each job through
// JobRunner, sharing one model), cancellation, expiry after the TTL, and shutdown. A job's folder is removed
// when it is deleted, expires, is cancelled, or the server stops; nothing a job does can stop the server.
import Foundation

/// The jobs of one server.
final class JobStore: @unchecked Sendable {
    let workDir: String
    let capacity: Int
    let ttl: Double
    let runner: JobRunner
    let metrics: ServerMetrics

    private let lock = NSCondition()
    private var jobs: [String: Job] = [:]
    private var waiting: [Job] = []
    private var running = 0
    private var stopping = false
    private var threads: [Thread] = []
    private var workersLeft = 0

    init(workDir: String, capacity: Int, ttl: Double, workers: Int, runner: JobRunner, metrics: ServerMetrics) {
        self.workDir = workDir
        self.capacity = capacity
        self.ttl = ttl
        self.runner = runner
        self.metrics = metrics
        workersLeft = workers
        for i in 0..<workers {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "cmpc-serve-worker-\(i)"
            thread.stackSize = 8 << 20
            threads.append(thread)
            thread.start()
        }
    }

    /// A fresh job id: 32 lowercase hex digits from the system's random generator.
    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// Whether an id has the form ids have (anything else is never a file name).
    static func isValidID(_ id: some StringProtocol) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Jobs waiting to run.
    var queueLength: Int { lock.withLock { waiting.count } }
    /// Whether another job would be refused.
    var isFull: Bool { lock.withLock { waiting.count >= capacity || stopping } }

    /// Adds a job to the queue; false (nothing added) when the queue is full or the server is stopping.
    func enqueue(_ job: Job) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard waiting.count < capacity, !stopping else { return false }
        jobs[job.id] = job
        waiting.append(job)
        metrics.queueLength.set(Double(waiting.count))
        metrics.submitted.increment()
        lock.signal()
        return true
    }

    /// The job with `id`, or nil (unknown, deleted or expired).
    func job(_ id: String) -> Job? { lock.withLock { jobs[id] } }

    /// Cancels a job (queued or running) and removes it and its folder; returns its final status. A running
    /// job's folder is removed by its worker once it has stopped.
    func delete(_ id: String) -> JobSnapshot? {
        guard let job = lock.withLock({ jobs.removeValue(forKey: id) }) else { return nil }
        lock.withLock {
            waiting.removeAll { $0 === job }
            metrics.queueLength.set(Double(waiting.count))
        }
        if job.requestCancel() { metrics.finished(.cancelled) }
        if job.status.isTerminal { removeFolder(job) }
        // A running job: its worker sees the request after the current frame, and removes the folder (it is no
        // longer in `jobs`).
        return job.snapshot()
    }

    /// Removes the finished jobs older than the TTL (folder and id). Returns how many.
    @discardableResult
    func expire(now: Date = Date()) -> Int {
        let old = lock.withLock { () -> [Job] in
            let expired = jobs.values.filter { job in job.finishedAt.map { now.timeIntervalSince($0) >= ttl } ?? false }
            for job in expired { jobs[job.id] = nil }
            return expired
        }
        for job in old { removeFolder(job) }
        if !old.isEmpty { metrics.expired.increment(by: Int64(old.count)) }
        return old.count
    }

    /// Wakes the event streams of the jobs not yet ended (JobService, every `SegmentServer.keepAliveInterval`).
    func wakeUnfinished() {
        let live = lock.withLock { jobs.values.filter { !$0.status.isTerminal } }
        for job in live { job.wakeWatchers() }
    }

    /// Stops taking jobs, cancels every job, waits for the workers to stop, and removes every job folder.
    func shutdown() {
        let all = lock.withLock { () -> [Job] in
            stopping = true
            waiting.removeAll()
            lock.broadcast()
            return Array(jobs.values)
        }
        for job in all where job.requestCancel() { metrics.finished(.cancelled) }
        lock.lock()
        while workersLeft > 0 { lock.wait() }
        let remaining = Array(jobs.values)
        jobs.removeAll()
        lock.unlock()
        for job in remaining { removeFolder(job) }
    }

    /// glibc's malloc_trim(0): hands the free memory of malloc's arenas back to the system (looked up, as
    /// malloc.h is not a Swift module; nothing happens without it).
    static func returnFreeMemory() {
        typealias Trim = @convention(c) (Int) -> Int32
        guard let f = dlsym(nil, "malloc_trim") else { return }
        _ = unsafeBitCast(f, to: Trim.self)(0)
    }

    func removeFolder(_ job: Job) {
        try? FileManager.default.removeItem(atPath: job.folder)
    }

    /// A worker: takes the oldest waiting job and runs it, until shutdown.
    private func work() {
        while true {
            lock.lock()
            while waiting.isEmpty && !stopping { lock.wait() }
            if stopping {
                workersLeft -= 1
                lock.broadcast()
                lock.unlock()
                return
            }
            let job = waiting.removeFirst()
            metrics.queueLength.set(Double(waiting.count))
            lock.unlock()
            guard job.start() else { continue }   // cancelled while it waited
            lock.withLock { running += 1; metrics.running.set(Double(running)) }
            let outcome = runner.run(job)
            let gone = lock.withLock { jobs[job.id] == nil || stopping }
            // Deleted while it ran, cancelled, or failed: its files go before the end is reported (a failed job
            // keeps only its status until it expires).
            if gone || outcome.status != .done { removeFolder(job) }
            if job.finish(outcome.status, error: outcome.error) { metrics.finished(outcome.status) }
            let idle = lock.withLock { () -> Bool in
                running -= 1
                metrics.running.set(Double(running))
                if job.status == .cancelled { jobs[job.id] = nil }
                return running == 0 && waiting.isEmpty
            }
            // The engine keeps freed tensor memory in malloc's heap between passes (Tensor.Allocator); once no
            // job runs, it goes back to the system, so the server's memory returns to its baseline.
            if idle { JobStore.returnFreeMemory() }
        }
    }
}
