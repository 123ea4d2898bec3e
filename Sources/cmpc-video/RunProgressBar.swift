// The evaluation runner's progress drawn on stderr: Evaluation's `RunProgress` answered by CommandLineSupport's
// `ProgressReporter` (a redrawn bar on a terminal, plain lines in a batch job's log, nothing with --quiet).
import CommandLineSupport
import Evaluation

/// Draws an `EvaluationRunner`'s progress; the reporter is made when the runner knows the total.
final class RunProgressBar: RunProgress {
    let style: ProgressReporter.Style
    private var reporter: ProgressReporter?

    init(style: ProgressReporter.Style) {
        self.style = style
    }

    func start(total: Int, done: Int) {
        reporter = ProgressReporter(total: total, initial: done, style: style)
    }

    func advance(failed: Bool) {
        reporter?.advance(failed: failed ? 1 : 0)
    }

    func finish() {
        reporter?.finish()
    }
}
