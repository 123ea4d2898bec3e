// Job: one submitted segmentation — its id, folder, request, status and progress, behind one lock — and the
// status JSON every endpoint and every server-sent event reports of it. Watchers (the event streams) are woken
// at every change.
import Foundation
import ImageModel
import Pipeline

/// A job's state.
public enum JobStatus: String, Sendable, Codable {
    case queued, running, done, failed, cancelled

    /// Whether the job will not change any more.
    public var isTerminal: Bool { self == .done || self == .failed || self == .cancelled }
}

/// What a job segments, fixed at submission.
struct JobInput: Sendable {
    /// The uploaded file (`<folder>/input.<ext>`).
    var path: String
    /// The client's file name reduced to a safe base name: masks.json's `source`, never a path.
    var source: String
    /// Still image or video.
    var isImage: Bool
    /// The frames to segment (1 for an image), and the video's frame count.
    var targets: [Int]
    var frameCount: Int
    /// Sentences, options and their word ids.
    var request: SegmentRequest
    var encoded: [EncodedSentence]
    var unknownWords: [[String]] { encoded.map(\.unknownWords) }
}

/// One job. Every mutable field is read and written under `lock`.
final class Job: @unchecked Sendable {
    /// 32 lowercase hex digits.
    let id: String
    /// `<work-dir>/<id>`.
    let folder: String
    let input: JobInput

    private let lock = NSLock()
    private var _status = JobStatus.queued
    private var _framesDone = 0
    private var _error: String?
    private var _finishedAt: Date?
    private var _cancelRequested = false
    private var watchers: [UUID: AsyncStream<Void>.Continuation] = [:]

    init(id: String, folder: String, input: JobInput) {
        self.id = id
        self.folder = folder
        self.input = input
    }

    var status: JobStatus { lock.withLock { _status } }
    var finishedAt: Date? { lock.withLock { _finishedAt } }
    var cancelRequested: Bool { lock.withLock { _cancelRequested } }
    var framesDone: Int { lock.withLock { _framesDone } }

    /// Moves a queued job to running; false when it was cancelled meanwhile.
    func start() -> Bool {
        change { guard $0._status == .queued else { return false }; $0._status = .running; return true }
    }

    func advance() { change { $0._framesDone += 1 } }

    /// Ends the job (once): done, failed with a message, or cancelled.
    @discardableResult
    func finish(_ status: JobStatus, error: String? = nil) -> Bool {
        change {
            guard !$0._status.isTerminal else { return false }
            $0._status = status
            $0._error = error
            $0._finishedAt = Date()
            if status == .done { $0._framesDone = input.targets.count }
            return true
        }
    }

    /// Asks a running job to stop after its current frame; a queued job is cancelled at once. Returns whether
    /// this call ended the job (a queued one).
    @discardableResult
    func requestCancel() -> Bool {
        let queued = lock.withLock { () -> Bool in
            _cancelRequested = true
            return _status == .queued
        }
        return queued && finish(.cancelled)
    }

    /// Wakes the job's event streams without a change, so an idle stream can send its keep-alive comment.
    func wakeWatchers() {
        let toWake = lock.withLock { Array(watchers.values) }
        for w in toWake { w.yield() }
    }

    private func change<T>(_ body: (Job) -> T) -> T {
        lock.lock()
        let result = body(self)
        let toWake = Array(watchers.values)
        lock.unlock()
        for w in toWake { w.yield() }
        return result
    }

    /// A stream that yields at every change (coalesced: the newest one is kept while the reader is busy).
    func changes() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let key = UUID()
        lock.withLock { watchers[key] = continuation }
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            _ = self.lock.withLock { self.watchers.removeValue(forKey: key) }
        }
        return stream
    }

    /// The status JSON: id, status, progress, frames_done, frames, kind, sentences, unknown_words, error
    /// (failed only), outputs (done only; URLs carrying `query`, e.g. the access token, when given).
    func snapshot(query: String = "") -> JobSnapshot {
        lock.withLock {
            let frames = input.targets.count
            let outputs: [String: String]? = _status == .done ? [
                "masks.json": "/v1/jobs/\(id)/masks.json\(query)",
                "overlay": "/v1/jobs/\(id)/\(input.isImage ? "overlay.png" : "overlay.mp4")\(query)",
                "masks.zip": "/v1/jobs/\(id)/masks.zip\(query)",
            ] : nil
            return JobSnapshot(id: id, status: _status, progress: frames == 0 ? 0 : Double(_framesDone) / Double(frames),
                               frames_done: _framesDone, frames: frames, kind: input.isImage ? "image" : "video",
                               sentences: input.request.sentences, unknown_words: input.unknownWords,
                               error: _status == .failed ? _error : nil, outputs: outputs)
        }
    }
}

/// The status of a job as the API reports it.
struct JobSnapshot: Encodable, Equatable {
    let id: String
    let status: JobStatus
    let progress: Double
    let frames_done: Int
    let frames: Int
    let kind: String
    let sentences: [String]
    let unknown_words: [[String]]
    let error: String?
    let outputs: [String: String]?
}
