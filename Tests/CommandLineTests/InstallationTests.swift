// A copied or installed cmpc-video finds its default model: in PREFIX/share/cmpc-video/default beside PREFIX/bin,
// in data/default beside the executable, through a symbolic link to it, or in $CMPC_VIDEO_DATA; with none of them
// the error says where it looked and what to do. Tools/install.sh installs the binary, the model, the sample, the
// shell completions and the man page. Each run is in a temporary folder outside the project.
import Foundation
import Testing
import Video

@Suite struct InstallationTests {
    /// Runs `executable arguments…` in `folder` with CMPC_VIDEO_DATA removed and `environment` added.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                    in folder: TemporaryFolder) throws -> ToolRun {
        try runProcess(executable, arguments, shownAs: [executable] + arguments, in: folder, environment: environment)
    }

    /// A still picture to segment, written by the Video module (FFmpeg's PNG encoder).
    static func still(in folder: TemporaryFolder) throws -> String {
        let path = folder.path("still.png")
        var image = RGBImage(width: 64, height: 48, fill: (90, 90, 90))
        for y in 10..<30 { for x in 20..<40 { image.pixels[(y * 64 + x) * 3] = 230 } }
        try ImageIO.writePNG(image, to: path)
        return path
    }

    static let defaultModel = projectRoot.appendingPathComponent("data/default").path

    /// Puts a copy of the built tool at `path` (folders made as needed).
    static func copyTool(to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: toolURL.path, toPath: path)
    }

    /// Puts a copy of data/default at `folder`/default.
    static func copyModel(into folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: defaultModel, toPath: folder + "/default")
    }

    @Test func aCopiedOrInstalledBinaryFindsItsModel() throws {
        let folder = try TemporaryFolder()
        let still = try Self.still(in: folder)
        let segment = { (tool: String, name: String, environment: [String: String]) throws -> ToolRun in
            try Self.run(tool, ["segment", still, "the red square", "--out", folder.path(name), "--quiet"],
                         environment: environment, in: folder)
        }
        // Installed: PREFIX/bin/cmpc-video and PREFIX/share/cmpc-video/default.
        let installed = folder.path("prefix/bin/cmpc-video")
        try Self.copyTool(to: installed)
        try Self.copyModel(into: folder.path("prefix/share/cmpc-video"))
        // Copied with the project's data folder beside it.
        let beside = folder.path("copy/cmpc-video")
        try Self.copyTool(to: beside)
        try Self.copyModel(into: folder.path("copy/data"))
        // Reached through a symbolic link from another bin folder: the link is resolved.
        let linked = folder.path("links/bin/cmpc-video")
        try FileManager.default.createDirectory(atPath: folder.path("links/bin"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: linked, withDestinationPath: installed)
        // Alone, with CMPC_VIDEO_DATA naming a folder that holds default/.
        let alone = folder.path("alone/cmpc-video")
        try Self.copyTool(to: alone)
        try Self.copyModel(into: folder.path("elsewhere"))

        for (tool, name, environment) in [(installed, "o1", [:]), (beside, "o2", [:]), (linked, "o3", [:]),
                                          (alone, "o4", ["CMPC_VIDEO_DATA": folder.path("elsewhere")])] {
            let run = try segment(tool, name, environment)
            #expect(run.status == 0, "\(run)")
            #expect(listing(folder.path(name)) == ["mask.png", "masks.json", "overlay.png"], "\(run)")
        }

        let lost = try segment(alone, "o5", [:])
        #expect(lost.status == 1, "\(lost)")
        #expect(lost.stderr.contains(folder.path("alone/default")) && lost.stderr.contains("CMPC_VIDEO_DATA")
                && lost.stderr.contains("Tools/install.sh") && lost.stderr.contains("--checkpoint"), "\(lost)")
        let wrongData = try segment(alone, "o6", ["CMPC_VIDEO_DATA": folder.path("copy")])
        #expect(wrongData.status == 1 && wrongData.stderr.contains("CMPC_VIDEO_DATA=\(folder.path("copy"))"), "\(wrongData)")
    }

    @Test func installShInstallsTheToolItsModelCompletionsAndManPage() throws {
        let folder = try TemporaryFolder()
        let script = projectRoot.appendingPathComponent("Tools/install.sh").path
        let usage = try Self.run("/bin/bash", [script], in: folder)
        #expect(usage.status == 64 && usage.stderr.contains("usage: Tools/install.sh PREFIX"), "\(usage)")

        let prefix = folder.path("prefix with space")
        // No man page here: building generate-manual would wait for the package's build folder, which the running
        // `swift test` holds (the man page is made by hand runs of install.sh).
        let install = try Self.run("/bin/bash", [script, prefix],
                                   environment: ["CMPC_VIDEO_BINARY": toolURL.path, "CMPC_VIDEO_NO_MANUAL": "1"], in: folder)
        for file in ["bin/cmpc-video", "share/cmpc-video/default/model.safetensors", "share/cmpc-video/default/config.json",
                     "share/cmpc-video/default/vocabulary.txt", "share/cmpc-video/sample.mp4",
                     "share/cmpc-video/sample-sentences.txt"] {
            #expect(FileManager.default.fileExists(atPath: prefix + "/" + file), "\(file) missing: \(install)")
        }
        let still = try Self.still(in: folder)
        let run = try Self.run(prefix + "/bin/cmpc-video", ["segment", still, "the red square", "--out", folder.path("o"),
                                                            "--quiet"], in: folder)
        #expect(run.status == 0, "\(run)")

        #expect(install.status == 0, "\(install)")
        for file in ["share/bash-completion/completions/cmpc-video", "share/zsh/site-functions/_cmpc-video",
                     "share/fish/vendor_completions.d/cmpc-video.fish"] {
            let text = (try? String(contentsOfFile: prefix + "/" + file, encoding: .utf8)) ?? ""
            #expect(text.contains("segment"), "\(file): \(install)")
        }
    }
}
