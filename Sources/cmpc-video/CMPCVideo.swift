// cmpc-video: the command-line tool. It only wires library calls together.
import ArgumentParser
import FileOutput
import Foundation

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
            Serve.self,
        ])

    /// Refuses a sentence that starts with "-" given where options are read (it would print help and exit 0,
    /// having done nothing), then parses and runs as usual; a file-system error that reaches this far is
    /// printed as its path and reason, not as Foundation's "NSCocoaErrorDomain Code=512".
    static func main() async {
        if let error = Segment.misreadSentence(in: Array(CommandLine.arguments.dropFirst())) {
            exit(withError: error)
        }
        do {
            var command = try parseAsRoot(nil)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: readable(error))
        }
    }

    /// A Foundation file error as "PATH: reason; check the path"; any other error as it is.
    static func readable(_ error: Error) -> Error {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return error }
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        return UserError((path.map { "\($0): " } ?? "") + plainReason(error) + "; check the path and its folders")
    }
}
