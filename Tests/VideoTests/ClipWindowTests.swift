import Testing
@testable import Video

@Suite struct ClipWindowTests {
    @Test func windowIsCentredOnTheTargetAndClamped() throws {
        let sampler = try ClipWindow(frameCount: 100)
        #expect(try sampler.window(around: 50) == Array(42...57))
        #expect(try sampler.window(around: 1) == Array(repeating: 1, count: 8) + Array(1...8))
        #expect(try sampler.window(around: 100) == Array(92...100) + Array(repeating: 100, count: 7))
        #expect(try sampler.sampledFrames(around: 50) == [42, 46, 50, 54, 57])
        #expect(try sampler.sampledFrames(around: 3) == [1, 1, 3, 7, 10])
        #expect(try sampler.sampledFrames(around: 97) == [89, 93, 97, 100, 100])
        for t in 1...100 {
            let sampled = try sampler.sampledFrames(around: t)
            #expect(sampled[ClipWindow.targetSlot] == t)
            let window = try sampler.window(around: t)
            #expect(sampled == ClipWindow.sampleOffsets.map { window[$0] })
        }
    }

    @Test func shortVideosRepeatTheirFrames() throws {
        let sampler = try ClipWindow(frameCount: 3)
        #expect(try sampler.window(around: 2) == [1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3])
        #expect(try sampler.sampledFrames(around: 2) == [1, 1, 2, 3, 3])
    }

    @Test func badTargetsAndCountsThrow() throws {
        #expect(throws: VideoError.self) { try ClipWindow(frameCount: 0) }
        let sampler = try ClipWindow(frameCount: 10)
        #expect(throws: VideoError.self) { try sampler.window(around: 0) }
        #expect(throws: VideoError.self) { try sampler.sampledFrames(around: 11) }
        #expect(throws: VideoError.self) { try sampler.walk(targets: [12], nextFrame: { 0 }, visit: { _, _ in }) }
    }

    @Test func walkDecodesEachFrameOnceAndKeepsFewFrames() throws {
        let sampler = try ClipWindow(frameCount: 200)
        var produced = 0
        var visited: [Int] = []
        let stats = try sampler.walk(nextFrame: { () -> Int? in
            produced += 1
            return produced <= 200 ? produced : nil
        }, visit: { t, frames in
            visited.append(t)
            #expect(frames == (try? sampler.sampledFrames(around: t)))
        })
        #expect(visited == Array(1...200))
        #expect(produced == 200 && stats.framesDecoded == 200)
        #expect(stats.peakCached <= ClipWindow.length, "peak \(stats.peakCached)")
    }

    @Test func walkOverSomeTargetsStopsAfterTheLastOneNeeds() throws {
        let sampler = try ClipWindow(frameCount: 100)
        var produced = 0
        var visited: [Int] = []
        let stats = try sampler.walk(targets: [40, 10, 10], nextFrame: { () -> Int? in
            produced += 1
            return produced
        }, visit: { t, frames in
            visited.append(t)
            #expect(frames == (try? sampler.sampledFrames(around: t)))
        })
        #expect(visited == [10, 40])
        #expect(stats.framesDecoded == 47 && produced == 47)
    }

    @Test func walkReportsAVideoThatEndsEarly() throws {
        let sampler = try ClipWindow(frameCount: 30)
        var produced = 0
        #expect { try sampler.walk(nextFrame: { () -> Int? in produced += 1; return produced <= 20 ? produced : nil },
                                    visit: { _, _ in }) } throws: { ($0 as? VideoError)?.kind == .damaged }
    }

    @Test func walkOverARealVideoGivesTheRandomAccessFrames() throws {
        let path = try MediaFiles.h264BFrames()
        let reader = try VideoReader(path: path)
        let sampler = try ClipWindow(frameCount: reader.info.frameCount)
        var targets = 0
        let stats = try sampler.walk(reader) { t, frames in
            targets += 1
            #expect(frames.map(MediaFiles.number) == (try? sampler.sampledFrames(around: t)))
        }
        #expect(targets == 60 && stats.framesDecoded == 60)
        // The sampled frames are exactly what random access returns.
        let random = try VideoReader(path: path)
        try sampler.walk(reader, targets: [1, 33, 60]) { t, frames in
            for (k, frame) in zip(try sampler.sampledFrames(around: t), frames) {
                #expect(frame.pixels == (try random.frame(at: k)).pixels, "target \(t), frame \(k)")
            }
        }
    }
}
