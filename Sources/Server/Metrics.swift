// ServerMetrics: what GET /metrics reports in Prometheus's text format (swift-prometheus): jobs submitted and
// finished by status, jobs waiting and running, frames segmented and the seconds spent on them (their ratio is
// the frames per second), bytes uploaded, results expired.
import Foundation
import Prometheus

/// The server's counters and gauges.
final class ServerMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    let submitted: Counter
    let queueLength: Gauge
    let running: Gauge
    let frames: Counter
    let segmentSeconds: Counter
    let uploadedBytes: Counter
    let expired: Counter
    let refused: Counter
    private let byStatus: [JobStatus: Counter]

    init() {
        submitted = registry.makeCounter(name: "cmpc_jobs_submitted_total", help: "Jobs accepted into the queue.")
        queueLength = registry.makeGauge(name: "cmpc_queue_length", help: "Jobs waiting to run.")
        running = registry.makeGauge(name: "cmpc_jobs_running", help: "Jobs running now.")
        frames = registry.makeCounter(name: "cmpc_frames_segmented_total",
                                      help: "Frames segmented (all sentences of a frame count once).")
        segmentSeconds = registry.makeCounter(name: "cmpc_segment_seconds_total",
                                              help: "Seconds jobs spent segmenting; frames per second = frames / seconds.")
        uploadedBytes = registry.makeCounter(name: "cmpc_uploaded_bytes_total", help: "Bytes of uploaded files received.")
        expired = registry.makeCounter(name: "cmpc_jobs_expired_total", help: "Finished jobs removed after the TTL.")
        refused = registry.makeCounter(name: "cmpc_jobs_refused_total", help: "Submissions refused because the queue was full.")
        var byStatus: [JobStatus: Counter] = [:]
        for status in [JobStatus.done, .failed, .cancelled] {
            byStatus[status] = registry.makeCounter(name: "cmpc_jobs_finished_total", labels: [("status", status.rawValue)],
                                                    help: "Jobs that ended, by final status.")
        }
        self.byStatus = byStatus
    }

    /// Counts a job that ended with `status`.
    func finished(_ status: JobStatus) { byStatus[status]?.increment() }

    /// The Prometheus text exposition.
    func text() -> [UInt8] { registry.emitToBuffer() }
}
