// Loading a CMPC model for a command: checkpoint (any supported format) + optional configuration.
import ArgumentParser
import Checkpoint
import FileOutput
import Foundation
import ImageModel
import Pipeline
import Tensor
import VideoModel

/// A message for the user, printed without a stack trace; the command exits non-zero.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}

/// Why `path` cannot be opened, from stat(2)'s errno, or nil when it can: "no such file", "a symbolic
/// link loop", "permission denied", … (FileManager.fileExists says false for all of them alike).
func pathProblem(_ path: String) -> String? {
    var info = stat()
    guard stat(path, &info) != 0 else { return nil }
    switch errno {
    case ENOENT: return "no such file"
    case ELOOP: return "a symbolic link loop (too many levels of symbolic links): fix or remove the link"
    case EACCES: return "permission denied on the file or a folder above it"
    case ENOTDIR: return "a part of the path is not a folder"
    case let e: return String(cString: strerror(e))
    }
}

/// What kind of file system object `path` is: .regular, .directory or .other (a device, pipe or socket).
enum PathKind { case regular, directory, other }

func pathKind(_ path: String) -> PathKind? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    switch info.st_mode & S_IFMT {
    case S_IFREG: return .regular
    case S_IFDIR: return .directory
    default: return .other
    }
}


/// Checks `--checkpoint` before anything else reads it: a TF prefix (PREFIX.index) or a regular file.
func checkCheckpointPath(_ path: String) throws {
    let fix = "give a .safetensors, .npz or .npy file or a TensorFlow prefix (model.ckpt-NNN with model.ckpt-NNN.index)"
    guard !path.isEmpty else { throw UserError("--checkpoint is empty: \(fix)") }
    if pathKind(path + ".index") == .regular { return }
    if let problem = pathProblem(path) { throw UserError("--checkpoint \(path): \(problem); \(fix)") }
    switch pathKind(path) {
    case .directory:
        let inside = (path as NSString).appendingPathComponent("model.safetensors")
        let hint = pathKind(inside) == .regular ? "use --checkpoint \(inside)" : fix
        throw UserError("--checkpoint \(path) is a folder, not a checkpoint: \(hint)")
    case .other: throw UserError("--checkpoint \(path) is not a regular file (a device, pipe or socket): \(fix)")
    default: return
    }
}

/// Reads a checkpoint's float tensors by name (integer step counters and the like are skipped).
func readCheckpointTensors(_ path: String) throws -> [(name: String, value: Tensor)] {
    let arrays = try CheckpointFile.readAll(path)
    var out: [(name: String, value: Tensor)] = []
    for (name, array) in arrays where array.dtype == .float32 || array.dtype == .float64 {
        out.append((name, try array.tensor()))
    }
    return out
}

/// The model a checkpoint holds; `configPath` supplies what the shapes do not (num_steps).
func loadModel(checkpoint: String, configPath: String?, numSteps: Int? = nil) throws -> CMPCModel {
    var base = ModelConfig()
    if let configPath { base = try ModelConfig.load(URL(fileURLWithPath: configPath)) }
    if let numSteps { base.numSteps = numSteps }
    let tensors = try readCheckpointTensors(checkpoint)
    return try CMPCModel(tensors: tensors, base: base, source: checkpoint)
}

/// Options every command that runs a model shares.
struct ModelOptions: ParsableArguments {
    @Option(help: "Checkpoint: a TensorFlow prefix (model.ckpt-NNN), .safetensors or .npz (default: the model in data/default).")
    var checkpoint: String?

    @Option(help: "Vocabulary file, one word per line (default: the checkpoint's vocabulary.txt beside it).")
    var vocab: String?

    @Option(help: "Model configuration JSON, for what the checkpoint's shapes do not say (num_steps; default: config.json beside the checkpoint).")
    var config: String?

    @Option(help: "The engine's worker threads (default: CMPC_THREADS, else one per online core); only the speed changes.")
    var threads: Int?

    @Option(help: "How frames are resized into the network input.")
    var resize: ResizeMode = .original

    @Option(help: "Arithmetic of the convolutions and large products (default: auto for segment, fp32 for evaluate and forward).")
    var precision: PrecisionChoice?

    /// The precision to run (`--precision`, else the command's default), printed on stderr with the
    /// instruction set; an error when bf16 cannot run on this CPU.
    func resolvedPrecision(default choice: PrecisionChoice) throws -> Precision {
        let chosen: Precision
        do { chosen = try (precision ?? choice).resolve() } catch { throw UserError("\(error)") }
        fputs("cmpc-video: precision \(OneDNN.describe(chosen))\((precision ?? choice) == .auto ? " (auto)" : "")\n", stderr)
        return chosen
    }

    func validate() throws {
        if let threads, !(1...Engine.maxWorkers).contains(threads) {
            throw ValidationError("--threads must be in 1…\(Engine.maxWorkers)")
        }
    }

    /// The model, its vocabulary and where they came from; the model runs at `--precision`, else at
    /// the command's `defaultPrecision`.
    func load(defaultPrecision: PrecisionChoice = .fp32) throws -> (model: CMPCModel, vocabulary: Vocabulary) {
        if let threads { try Engine.configure(workers: threads) }
        let precision = try resolvedPrecision(default: defaultPrecision)
        let checkpointPath: String
        var configPath = config
        var vocabPath = vocab
        if let checkpoint {
            try checkCheckpointPath(checkpoint)   // before the vocabulary: a wrong path is the first thing to fix
            checkpointPath = checkpoint
        } else {
            guard let folder = DefaultModel.folder() else { throw UserError(DefaultModel.notFound()) }
            checkpointPath = folder + "/model.safetensors"
            if configPath == nil { configPath = folder + "/config.json" }
            if vocabPath == nil { vocabPath = folder + "/vocabulary.txt" }
        }
        // A checkpoint of `cmpc-video train` has its vocabulary and configuration beside it; the
        // configuration says what the shapes do not (num_steps), so a model trained with 10 steps is
        // not run with the default 20.
        let folder = (checkpointPath as NSString).deletingLastPathComponent
        if vocabPath == nil, pathKind(folder + "/vocabulary.txt") == .regular { vocabPath = folder + "/vocabulary.txt" }
        if configPath == nil, pathKind(folder + "/config.json") == .regular { configPath = folder + "/config.json" }
        guard let vocabPath else {
            throw UserError("no vocabulary.txt beside \(checkpointPath): give the vocabulary the checkpoint was trained with, "
                + "--vocab FILE (e.g. vocabulary_Gref.txt)")
        }
        if let problem = pathProblem(vocabPath) { throw UserError("--vocab \(vocabPath): \(problem); check the path") }
        if pathKind(vocabPath) != .regular { throw UserError("--vocab \(vocabPath) is not a regular file: give the vocabulary text file") }
        let vocabulary = try Vocabulary.load(URL(fileURLWithPath: vocabPath))
        var model = try loadModel(checkpoint: checkpointPath, configPath: configPath)
        model.precision = precision
        if precision == .bf16 { try model.prepareForBF16Inference() }   // bf16 weights replace the backbone's fp32 ones
        guard vocabulary.count <= model.config.vocabSize else {
            throw UserError("\(vocabPath) has \(vocabulary.count) words but the checkpoint's embedding has \(model.config.vocabSize) rows: "
                + "use the vocabulary the checkpoint was trained with")
        }
        return (model, vocabulary)
    }
}

/// Where the model shipped in data/default lives, for a binary run from the project, copied or installed.
enum DefaultModel {
    /// The folders searched, in order: $CMPC_VIDEO_DATA/default (or $CMPC_VIDEO_DATA itself when it holds the
    /// model); beside the executable (default/, data/default/); the installed layout PREFIX/bin/cmpc-video →
    /// PREFIX/share/cmpc-video/default; then data/default upward from the executable and the current folder.
    static func candidates(environment: [String: String] = ProcessInfo.processInfo.environment,
                           executable: String = executablePath(),
                           currentFolder: String = FileManager.default.currentDirectoryPath) -> [String] {
        if let data = environment["CMPC_VIDEO_DATA"], !data.isEmpty { return [data + "/default", data] }
        let exe = URL(fileURLWithPath: executable).deletingLastPathComponent()
        var folders = [exe.appendingPathComponent("default").path, exe.appendingPathComponent("data/default").path,
                       exe.deletingLastPathComponent().appendingPathComponent("share/cmpc-video/default").path]
        for start in [exe.deletingLastPathComponent(), URL(fileURLWithPath: currentFolder)] {
            var dir = start
            for _ in 0..<8 {
                folders.append(dir.appendingPathComponent("data/default").path)
                if dir.path == "/" { break }
                dir.deleteLastPathComponent()
            }
        }
        var seen = Set<String>()
        return folders.map { URL(fileURLWithPath: $0).standardized.path }.filter { seen.insert($0).inserted }
    }

    /// The first candidate folder that holds model.safetensors, or nil.
    static func folder() -> String? {
        candidates().first { pathKind($0 + "/model.safetensors") == .regular }
    }

    /// Why no default model was found, naming where it was looked for and the fixes.
    static func notFound() -> String {
        let places = candidates()
        if let data = ProcessInfo.processInfo.environment["CMPC_VIDEO_DATA"], !data.isEmpty {
            return "no --checkpoint given and CMPC_VIDEO_DATA=\(data) holds no default/model.safetensors: "
                + "point CMPC_VIDEO_DATA at the folder that holds default/ (the project's data/, or PREFIX/share/cmpc-video), "
                + "or pass --checkpoint"
        }
        return "no --checkpoint given and no default model (default/model.safetensors) in "
            + places.prefix(3).joined(separator: ", ") + " or a data/default above the executable or the current folder: "
            + "install with Tools/install.sh PREFIX, set CMPC_VIDEO_DATA to the project's data folder, or pass --checkpoint"
    }

    /// The running executable's real path (symbolic links resolved), from /proc/self/exe where there is one.
    static func executablePath() -> String {
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"), target.hasPrefix("/") {
            return target
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
    }
}
