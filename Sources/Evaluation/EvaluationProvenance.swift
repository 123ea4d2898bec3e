// The provenance record: the first line of an evaluation log, saying what produced the log's results, so that a
// rerun with another checkpoint, configuration, vocabulary or setting cannot resume (and silently mix) it.
//
// Format: one JSON object on the log's first line, `{"provenance": {…}}`, keys in the order written:
//   checkpoint         String  the checkpoint path as given (informational: not compared)
//   checkpoint_sha256  String  SHA-256 of the checkpoint's bytes (a TensorFlow bundle: its .index, then its data shards)
//   config             Object  the model configuration the run used (ModelConfig's JSON keys)
//   vocabulary_sha256  String  SHA-256 of the vocabulary as the model reads it (its words, one per line)
//   precision          String  the engine's arithmetic ("fp32")
//   threshold          Number  the foreground probability threshold
//   crf                Bool    DenseCRF refinement on
//   resize             String  how frames were resized into the network (original, antialias)
//   dataset, split     String
// Readers ignore keys they do not know; a key one side lacks counts as a difference.

import Foundation
import JSON

/// What produced an evaluation log: the first record of the log.
public struct Provenance: Equatable, Sendable {
    /// The fields in the order written (`checkpoint` first; see the file's top comment).
    public var fields: [(String, JSONValue)]

    /// Fields that do not identify the results (compared by their hash instead, or not at all).
    public static let informational: Set<String> = ["checkpoint"]

    public init(fields: [(String, JSONValue)]) {
        self.fields = fields
    }

    /// The provenance of a run; `config` is the model configuration as a JSON object.
    public init(checkpoint: String, checkpointSHA256: String, config: JSONValue, vocabularySHA256: String,
                precision: String, threshold: Double, crf: Bool, resize: String, dataset: String, split: String) {
        fields = [
            ("checkpoint", .string(checkpoint)), ("checkpoint_sha256", .string(checkpointSHA256)), ("config", config),
            ("vocabulary_sha256", .string(vocabularySHA256)), ("precision", .string(precision)),
            ("threshold", .double(threshold)), ("crf", .bool(crf)), ("resize", .string(resize)),
            ("dataset", .string(dataset)), ("split", .string(split)),
        ]
    }

    public static func == (a: Provenance, b: Provenance) -> Bool { a.differences(from: b).isEmpty }

    /// The value of a field.
    public subscript(key: String) -> JSONValue? { fields.first { $0.0 == key }?.1 }

    /// The record as one JSON line (with its "\n").
    public func jsonLine() -> String {
        JSONValue.object([("provenance", .object(fields))]).text(.spaced) + "\n"
    }

    /// Whether a log line (without its "\n") is a provenance record rather than a sample.
    static func isRecord(_ text: Substring) -> Bool {
        text.drop { $0 == " " || $0 == "\t" }.hasPrefix("{\"provenance\"")
    }

    /// Parses a provenance line; `file` and `line` only name the place in errors.
    public init(jsonLine text: Substring, file: String = "", line: Int = 0) throws {
        let value: JSONValue
        do { value = try JSONValue.parse(Data(text.utf8), file: file) } catch {
            throw EvaluationLogError.malformedLine(file: file, line: line, reason: "provenance record: \(error)")
        }
        guard let members = value["provenance"]?.members else {
            throw EvaluationLogError.malformedLine(file: file, line: line,
                                                   reason: "`provenance` must be an object of what produced the log")
        }
        fields = members
    }

    /// What differs from `other` (this one is the log's, `other` the run's), one readable item per field:
    /// "checkpoint (sha256 1a2b3c4d… in the log, 5e6f7a8b… now)", "config.num_steps (10 in the log, 20 now)".
    public func differences(from other: Provenance) -> [String] {
        var out: [String] = []
        var keys = fields.map(\.0)
        for (key, _) in other.fields where !keys.contains(key) { keys.append(key) }
        for key in keys where !Self.informational.contains(key) {
            let mine = self[key], theirs = other[key]
            if mine == theirs { continue }
            if key == "checkpoint_sha256" {
                out.append("checkpoint (sha256 \(Self.short(mine)) in the log, \(Self.short(theirs)) now: "
                           + "\(self["checkpoint"]?.string ?? "?") then, \(other["checkpoint"]?.string ?? "?") now)")
            } else if key == "vocabulary_sha256" {
                out.append("vocabulary (sha256 \(Self.short(mine)) in the log, \(Self.short(theirs)) now)")
            } else if let a = mine?.members, let b = theirs?.members {
                var subkeys = a.map(\.0)
                for (k, _) in b where !subkeys.contains(k) { subkeys.append(k) }
                for k in subkeys {
                    let x = a.first { $0.0 == k }?.1, y = b.first { $0.0 == k }?.1
                    if x != y { out.append("\(key).\(k) (\(Self.text(x)) in the log, \(Self.text(y)) now)") }
                }
            } else {
                out.append("\(key) (\(Self.text(mine)) in the log, \(Self.text(theirs)) now)")
            }
        }
        return out
    }

    private static func text(_ value: JSONValue?) -> String { value.map { $0.text(.compact) } ?? "absent" }

    private static func short(_ value: JSONValue?) -> String {
        guard let s = value?.string else { return text(value) }
        return String(s.prefix(12)) + (s.count > 12 ? "…" : "")
    }
}
