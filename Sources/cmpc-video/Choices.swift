// The closed sets of values the command line takes, as argument types: --help lists each value with what it
// means, and a value outside the set is a usage error (exit 64) that names it and lists the choices.
// The enums live in their libraries (Datasets, ImageModel, Training); only the parsing is declared here.
import ArgumentParser
import Datasets
import ImageModel
import Pipeline
import Tensor
import Training

/// `--dataset` of evaluate and datasets check: a name or alias of `DatasetKind`, in any case.
extension DatasetKind: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }

    public static var allValueDescriptions: [String: String] {
        Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0.helpText) })
    }

    /// The dataset's title and its aliases, e.g. "A2D Sentences (also a2d-sentences)".
    var helpText: String {
        let aliases = DatasetKind.aliases.filter { $0.value == self }.map(\.key).sorted()
        return title + (aliases.isEmpty ? "" : " (also " + aliases.joined(separator: ", ") + ")")
    }
}

/// `--finetune` of train and forward: which variables the optimizer updates.
extension Finetune: ExpressibleByArgument {
    public static var allValueDescriptions: [String: String] {
        [Finetune.none.rawValue: "text_objseg/* only (the original's default)",
         Finetune.res345.rawValue: "text_objseg/* and the res3*, res4*, res5* convolution weights",
         Finetune.all.rawValue: "every variable but the batch-norm moving statistics (training from scratch)"]
    }
}

/// `--ablation` of train: a baseline variant, kept in OUT/config.json so evaluate and segment run it too.
extension ModelAblation: ExpressibleByArgument {
    public static var allValueDescriptions: [String: String] {
        [ModelAblation.singleFrame.rawValue: "the video network sees only the target frame (in all 5 slots)",
         ModelAblation.noSentence.rawValue: "every sentence is replaced by one fixed word"]
    }
}

/// `--resize` of segment, evaluate, forward and train: how frames are resized into the network input.
extension ResizeMode: ExpressibleByArgument {
    public static var allValueDescriptions: [String: String] {
        [ResizeMode.original.rawValue: "as the original ran (scikit-image 0.14): bilinear, 0 outside the frame, no blur",
         ResizeMode.antialias.rawValue: "today's scikit-image default: Gaussian anti-aliasing blur when shrinking, "
            + "reflected borders (not what the checkpoints were trained on)"]
    }
}

/// `--dataset` of train: the layouts training reads, A2D Sentences only (what `cmpc-video synth` writes); its
/// `DatasetKind` aliases are accepted too.
enum TrainingDataset: String, ExpressibleByArgument, CaseIterable {
    case a2d

    init?(argument: String) {
        guard DatasetKind(name: argument) == .a2d else { return nil }
        self = .a2d
    }

    static var allValueDescriptions: [String: String] {
        [TrainingDataset.a2d.rawValue: DatasetKind.a2d.helpText]
    }
}

/// `--precision` of segment, evaluate, forward and bench.
extension PrecisionChoice: ExpressibleByArgument {
    public static var allValueDescriptions: [String: String] {
        [PrecisionChoice.fp32.rawValue: "IEEE single precision (TensorFlow parity; OpenBLAS)",
         PrecisionChoice.bf16.rawValue: "bfloat16 convolutions and products with fp32 accumulation (oneDNN; needs AVX512_BF16 or AMX)",
         PrecisionChoice.auto.rawValue: "bf16 where this CPU runs it faster than fp32 (AMX, or AVX512_BF16 on AMD), else fp32"]
    }
}

/// A resolved precision (bench's child processes).
extension Precision: ExpressibleByArgument {}
