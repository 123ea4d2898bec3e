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
        let registry = registry
        /// cmpc_<name>_<unit>.
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "cmpc", metricName: metric, unitName: unit, helpText: help)
        }
        submitted = registry.makeCounter(descriptor: name("jobs_submitted", "total", "Jobs accepted into the queue."))
        queueLength = registry.makeGauge(descriptor: name("queue", "length", "Jobs waiting to run."))
        running = registry.makeGauge(descriptor: name("jobs", "running", "Jobs running now."))
        frames = registry.makeCounter(descriptor: name("frames_segmented", "total",
                                                       "Frames segmented (all sentences of a frame count once)."))
        segmentSeconds = registry.makeCounter(descriptor: name("segment_seconds", "total",
                                                               "Seconds jobs spent segmenting; frames per second = frames / seconds."))
        uploadedBytes = registry.makeCounter(descriptor: name("uploaded_bytes", "total", "Bytes of request bodies received by POST /v1/jobs."))
        expired = registry.makeCounter(descriptor: name("jobs_expired", "total", "Finished jobs removed after the TTL."))
        refused = registry.makeCounter(descriptor: name("jobs_refused", "total", "Submissions refused because the queue was full."))
        var byStatus: [JobStatus: Counter] = [:]
        for status in [JobStatus.done, .failed, .cancelled] {
            byStatus[status] = registry.makeCounter(descriptor: name("jobs_finished", "total", "Jobs that ended, by final status."),
                                                    labels: [("status", status.rawValue)])
        }
        self.byStatus = byStatus
    }

    /// Counts a job that ended with `status`.
    func finished(_ status: JobStatus) { byStatus[status]?.increment() }

    /// The Prometheus text exposition.
    func text() -> [UInt8] { registry.emitToBuffer() }
}
