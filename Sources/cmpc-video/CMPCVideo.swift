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

    /// Refuses a sentence that starts with "-" given where options are read (it would print help and exit 0,
    /// having done nothing), then parses and runs as usual.
    static func main() async {
        if let error = Segment.misreadSentence(in: Array(CommandLine.arguments.dropFirst())) {
            exit(withError: error)
        }
        await main(nil)
    }
}
