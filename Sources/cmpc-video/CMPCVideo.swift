// cmpc-video: the command-line tool. It only wires library calls together.
import ArgumentParser

@main
struct CMPCVideo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cmpc-video",
        abstract: "Segment the actor a sentence describes, in videos and still images (CMPC).",
        version: "0.1.0",
        subcommands: [
            Segment.self,
            Evaluate.self,
            Forward.self,
            Train.self,
            Inspect.self,
            Convert.self,
            DatasetsCommand.self,
            Synth.self,
            Bench.self,
        ])
}
