// The command line's progress display and its Ctrl-C / SIGTERM stop request.
import Foundation
import Testing
import CommandLineSupport

@Suite struct ProgressTests {
    @Test func progressDrawsABarOrPlainLinesOrNothing() {
        var now = 100.0
        var text = ""
        let lines = ProgressReporter(total: 10, initial: 2, style: .lines(interval: 30), output: { text += $0 },
                                     clock: { now })
        now += 10; lines.advance()
        #expect(text.isEmpty)                         // not 30 s yet
        now += 25; lines.advance(failed: 1)
        #expect(text == "evaluate: 40%  4/10  17.50s each  ETA 1:45  errors 1\n")
        text = ""
        now += 1; lines.advance()
        #expect(text.isEmpty)

        text = ""
        let bar = ProgressReporter(total: 4, style: .bar, output: { text += $0 }, clock: { now })
        now += 2; bar.advance()
        #expect(text.hasPrefix("\r  25% [#######---------------------]  1/4  2.00s each  ETA 0:06"))
        bar.finish()
        #expect(text.hasSuffix("\n"))

        text = ""
        let quiet = ProgressReporter(total: 4, style: .quiet, output: { text += $0 }, clock: { now })
        quiet.advance(); quiet.finish()
        #expect(text.isEmpty)
        #expect(ProgressReporter.duration(3725) == "1:02:05" && ProgressReporter.duration(65) == "1:05")
    }

    @Test(arguments: [SIGINT, SIGTERM])
    func aSignalRequestsAStop(_ number: Int32) async throws {
        let seen = StopRequest()                 // records which signal the handler saw
        let stop = StopRequest.onSignals([number]) { got in if got == number { seen.request() } }
        defer { stop.uninstall() }
        #expect(!stop.isRequested && stop.signalNumber == nil)
        kill(getpid(), number)
        for _ in 0..<500 where !stop.isRequested { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(stop.isRequested && stop.signalNumber == number)
        for _ in 0..<500 where !seen.isRequested { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(seen.isRequested)
    }
}
