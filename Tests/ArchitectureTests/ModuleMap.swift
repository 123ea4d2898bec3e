// The two descriptions of the module graph this target compares, and the comparison:
//   PackageManifest  the targets of Package.swift and the targets/products each depends on (a text parse of the
//                    `.target(name:dependencies:)`, `.executableTarget`, `.systemLibrary`, `.testTarget` calls,
//                    so no nested `swift package` run is needed inside `swift test`);
//   ModuleTable      the "Modules (Swift targets) and who may import whom" table of docs/architecture.md
//                    (first column: target names, last column: the targets it imports; "—" none, "all" every
//                    library target);
//   Disagreement     one difference between them, or one `import` a target's sources make without declaring it.
import Foundation

/// One target of Package.swift.
struct ManifestTarget: Equatable {
    enum Kind: String { case target, executableTarget, systemLibrary, testTarget }
    var name: String
    var kind: Kind
    /// Targets of this package it depends on (`"X"`, `.target(name: "X")`, `.byName(name: "X")`).
    var targets: Set<String> = []
    /// Products of other packages it depends on (`.product(name: "X", package: …)`): also importable modules.
    var products: Set<String> = []
    /// The `path:` argument, when given.
    var path: String?
}

/// The targets of a Package.swift, read from its text.
struct PackageManifest {
    var targets: [ManifestTarget]

    /// Parses the target declarations of a manifest. Throws when a call is unbalanced or has no name.
    init(text: String) throws {
        let source = SourceText(text)
        var targets: [ManifestTarget] = []
        var end = 0   // calls inside a target's arguments (`.target(name:)` in dependencies) are not targets
        for (kind, open) in source.calls(named: ["target", "executableTarget", "systemLibrary", "testTarget"]) where open > end {
            guard let close = source.closing(from: open) else {
                throw ArchitectureError("Package.swift: the .\(kind)( call on line \(source.line(of: open)) is not closed")
            }
            end = close
            let arguments = source.arguments(open..<close)
            guard let name = arguments["name"].flatMap(source.stringLiteral) else {
                throw ArchitectureError("Package.swift: the .\(kind)( call on line \(source.line(of: open)) has no "
                                        + "`name: \"…\"` argument")
            }
            var target = ManifestTarget(name: name, kind: ManifestTarget.Kind(rawValue: kind)!)
            target.path = arguments["path"].flatMap(source.stringLiteral)
            if let list = arguments["dependencies"] {
                guard let elements = source.arrayElements(list) else {
                    throw ArchitectureError("Package.swift: \(name)'s dependencies are not an array literal [ … ]")
                }
                for element in elements {
                    let value = source.string(element)
                    if let plain = source.stringLiteral(element) {
                        target.targets.insert(plain)
                    } else if let call = source.calledWithName(element), call.callee == "product" {
                        target.products.insert(call.name)
                    } else if let call = source.calledWithName(element) {
                        target.targets.insert(call.name)   // .target(name:) or .byName(name:)
                    } else {
                        throw ArchitectureError("Package.swift: \(name)'s dependency \(value) is neither \"Name\", "
                                                + ".target(name:), .byName(name:) nor .product(name:package:)")
                    }
                }
            }
            targets.append(target)
        }
        guard !targets.isEmpty else { throw ArchitectureError("Package.swift declares no target") }
        self.targets = targets
    }

    /// The targets that are not tests.
    var modules: [ManifestTarget] { targets.filter { $0.kind != .testTarget } }
}

/// The module table of docs/architecture.md: target → the targets it may import.
struct ModuleTable {
    static let heading = "## Modules (Swift targets) and who may import whom"

    enum Imports: Equatable {
        /// Every library target of the package (the command-line tool's row says "all").
        case all
        case these(Set<String>)
    }

    /// In table order; a row naming several targets ("CFFmpeg, CHDF5, CZlib") gives one entry each.
    var rows: [(target: String, imports: Imports)]

    /// Parses the table under `heading`. Throws when the heading or the table is missing, or a row is malformed.
    init(markdown: String) throws {
        let lines = markdown.components(separatedBy: "\n")
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == Self.heading }) else {
            throw ArchitectureError("docs/architecture.md has no heading \"\(Self.heading)\"")
        }
        let table = lines[(start + 1)...].drop { !$0.hasPrefix("|") }.prefix { $0.hasPrefix("|") }
        func cells(_ line: String) -> [String] {
            var parts = line.split(separator: "|", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.first == "" { parts.removeFirst() }
            if parts.last == "" { parts.removeLast() }
            return parts
        }
        guard let header = table.first.map(cells), header.first == "target", header.last == "imports" else {
            throw ArchitectureError("docs/architecture.md: the table under \"\(Self.heading)\" must have the columns "
                                    + "| target | … | imports |")
        }
        func names(_ cell: String) -> [String] {
            cell.replacingOccurrences(of: "`", with: "").split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        var rows: [(target: String, imports: Imports)] = []
        for line in table.dropFirst() where !line.hasPrefix("|---") && !line.hasPrefix("| ---") {
            let row = cells(line)
            guard row.count >= 2, let first = row.first, let last = row.last, !names(first).isEmpty else {
                throw ArchitectureError("docs/architecture.md: module table row \"\(line)\" needs a target and an imports cell")
            }
            let imports: Imports
            switch last {
            case "all": imports = .all
            case "—", "-", "": imports = .these([])
            default: imports = .these(Set(names(last)))
            }
            for target in names(first) { rows.append((target, imports)) }
        }
        guard !rows.isEmpty else { throw ArchitectureError("docs/architecture.md: the module table has no rows") }
        self.rows = rows
    }
}

/// One way Package.swift, the doc's table and the sources disagree.
struct Disagreement: Hashable, CustomStringConvertible {
    enum Kind: Hashable {
        /// A target of Package.swift has no row in the table.
        case targetNotInTable
        /// A row of the table names no target of Package.swift.
        case rowNotInPackage
        /// Package.swift lets `target` depend on `module`; the table's imports do not list it.
        case dependencyNotInTable(module: String)
        /// The table lists `module` for `target`; Package.swift does not declare the dependency.
        case tableImportNotInPackage(module: String)
        /// `file` (under Sources/<target>/) imports `module`, which `target` does not declare.
        case undeclaredImport(module: String, file: String)
    }
    var target: String
    var kind: Kind

    var description: String {
        switch kind {
        case .targetNotInTable:
            return "\(target): a target of Package.swift with no row in docs/architecture.md's module table"
        case .rowNotInPackage:
            return "\(target): a row of docs/architecture.md's module table but no target of Package.swift"
        case .dependencyNotInTable(let m):
            return "\(target): Package.swift depends on \(m); the table's imports column does not list it"
        case .tableImportNotInPackage(let m):
            return "\(target): the table's imports column lists \(m); Package.swift does not declare it"
        case .undeclaredImport(let m, let file):
            return "\(target): \(file) imports \(m), which Package.swift does not declare for \(target)"
        }
    }
}

/// Modules any target may import without declaring them: the toolchain's own.
let systemModules: Set<String> = [
    "Foundation", "FoundationEssentials", "FoundationNetworking", "Dispatch", "Glibc", "Musl", "Darwin", "os",
    "Synchronization", "_Concurrency", "Testing", "XCTest",
]

/// Every disagreement between the manifest and the table (order: the manifest's targets, then stray rows).
func compare(_ manifest: PackageManifest, _ table: ModuleTable) -> [Disagreement] {
    let libraries = Set(manifest.targets.filter { $0.kind == .target }.map(\.name))
    let documented = Dictionary(table.rows.map { ($0.target, $0.imports) }, uniquingKeysWith: { first, _ in first })
    var found: [Disagreement] = []
    for target in manifest.modules {
        guard let imports = documented[target.name] else {
            found.append(Disagreement(target: target.name, kind: .targetNotInTable))
            continue
        }
        let listed: Set<String>
        switch imports {
        case .all: listed = libraries.subtracting([target.name])
        case .these(let names): listed = names
        }
        for m in target.targets.subtracting(listed).sorted() {
            found.append(Disagreement(target: target.name, kind: .dependencyNotInTable(module: m)))
        }
        for m in listed.subtracting(target.targets).sorted() {
            found.append(Disagreement(target: target.name, kind: .tableImportNotInPackage(module: m)))
        }
    }
    let declared = Set(manifest.modules.map(\.name))
    for row in table.rows where !declared.contains(row.target) {
        found.append(Disagreement(target: row.target, kind: .rowNotInPackage))
    }
    return found
}

/// The modules a Swift file imports (`import X`, `@testable import X`, `import struct X.Y`, `@_exported import X`).
func importedModules(_ source: String) -> [String] {
    let pattern = #"^[ \t]*(?:@\w+[ \t]+)*import[ \t]+(?:(?:struct|class|enum|protocol|typealias|func|var|let)[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)"#
    let regex = try! NSRegularExpression(pattern: pattern, options: [.anchorsMatchLines])
    let code = String(SourceText(source).code)
    return regex.matches(in: code, range: NSRange(code.startIndex..., in: code)).map {
        String(code[Range($0.range(at: 1), in: code)!])
    }
}

/// Imports of each library and executable target's sources (Sources/<name>/ or its `path:`) that the target
/// does not declare; `read` returns the Swift files under a folder as (path relative to the package, text).
func undeclaredImports(_ manifest: PackageManifest,
                       read: (_ folder: String) throws -> [(path: String, text: String)]) rethrows -> [Disagreement] {
    var found: [Disagreement] = []
    for target in manifest.targets where target.kind == .target || target.kind == .executableTarget {
        let allowed = target.targets.union(target.products).union(systemModules)
        for file in try read(target.path ?? "Sources/\(target.name)") {
            for module in Set(importedModules(file.text)).subtracting(allowed).sorted() {
                found.append(Disagreement(target: target.name, kind: .undeclaredImport(module: module, file: file.path)))
            }
        }
    }
    return found
}

/// Why a file could not be read as expected; the message names the file and what is wrong.
struct ArchitectureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Swift source as characters, with a copy whose comments and string-literal contents are blanked (same
/// positions), so brackets, argument labels and `import` lines are found without being fooled by text.
struct SourceText {
    /// The source.
    let text: [Character]
    /// The source with every character of a comment or inside a string literal replaced by a space
    /// (newlines and the quotes themselves kept).
    let code: [Character]

    init(_ source: String) {
        let text = Array(source)
        var out = text
        var i = 0
        func blank(_ range: Range<Int>) { for k in range where out[k] != "\n" { out[k] = " " } }
        func starts(_ s: String, at k: Int) -> Bool {
            let p = Array(s)
            return k + p.count <= text.count && Array(text[k..<(k + p.count)]) == p
        }
        while i < text.count {
            if starts("//", at: i) {
                var j = i
                while j < text.count, text[j] != "\n" { j += 1 }
                blank(i..<j)
                i = j
            } else if starts("/*", at: i) {
                var depth = 0, j = i
                repeat {
                    if starts("/*", at: j) { depth += 1; j += 2 } else if starts("*/", at: j) { depth -= 1; j += 2 } else { j += 1 }
                } while j < text.count && depth > 0
                blank(i..<min(j, text.count))
                i = j
            } else if text[i] == "\"" {
                let quote = starts("\"\"\"", at: i) ? "\"\"\"" : "\""
                var j = i + quote.count
                while j < text.count, !starts(quote, at: j) { j += text[j] == "\\" ? 2 : 1 }
                blank((i + quote.count)..<min(j, text.count))
                i = min(j + quote.count, text.count)
            } else {
                i += 1
            }
        }
        self.text = text
        code = out
    }

    /// The original text of a range.
    func string(_ range: Range<Int>) -> String { String(text[range]) }

    /// The 1-based line of a position.
    func line(of position: Int) -> Int { 1 + text[..<position].filter { $0 == "\n" }.count }

    /// Every `.name(` in the code (or in `range` of it) whose name is one of `names`: the name and the position
    /// after the "(".
    func calls(named names: Set<String>, in range: Range<Int>? = nil) -> [(name: String, open: Int)] {
        var found: [(name: String, open: Int)] = []
        let range = range ?? 0..<code.count
        var i = range.lowerBound
        while i < range.upperBound {
            guard code[i] == "." else { i += 1; continue }
            var j = i + 1
            while j < range.upperBound, code[j].isLetter || code[j].isNumber || code[j] == "_" { j += 1 }
            let name = String(code[(i + 1)..<j])
            if j < range.upperBound, code[j] == "(", names.contains(name) { found.append((name, j + 1)) }
            i = j
        }
        return found
    }

    /// The position of the bracket closing the one just before `start`.
    func closing(from start: Int) -> Int? {
        var depth = 1
        for i in start..<code.count {
            switch code[i] {
            case "(", "[", "{": depth += 1
            case ")", "]", "}":
                depth -= 1
                if depth == 0 { return i }
            default: break
            }
        }
        return nil
    }

    /// `range` split at its commas of nesting depth 0, each part trimmed of white space; empty parts dropped.
    func splitTopLevel(_ range: Range<Int>) -> [Range<Int>] {
        var parts: [Range<Int>] = []
        var depth = 0, start = range.lowerBound
        for i in range {
            switch code[i] {
            case "(", "[", "{": depth += 1
            case ")", "]", "}": depth -= 1
            case "," where depth == 0:
                parts.append(start..<i)
                start = i + 1
            default: break
            }
        }
        parts.append(start..<range.upperBound)
        return parts.map(trimmed).filter { !$0.isEmpty }
    }

    /// The range without leading and trailing white space.
    func trimmed(_ range: Range<Int>) -> Range<Int> {
        var lo = range.lowerBound, hi = range.upperBound
        while lo < hi, code[lo].isWhitespace { lo += 1 }
        while hi > lo, code[hi - 1].isWhitespace { hi -= 1 }
        return lo..<hi
    }

    /// The labelled arguments of the call whose argument list is `range`: label → the value's range.
    func arguments(_ range: Range<Int>) -> [String: Range<Int>] {
        var result: [String: Range<Int>] = [:]
        for part in splitTopLevel(range) {
            guard let colon = code[part].firstIndex(of: ":") else { continue }
            let label = String(code[part.lowerBound..<colon]).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !label.isEmpty, label.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { continue }
            result[label] = trimmed((colon + 1)..<part.upperBound)
        }
        return result
    }

    /// The elements of the array literal `[a, b, …]` filling `range`; nil when it is not one.
    func arrayElements(_ range: Range<Int>) -> [Range<Int>]? {
        guard !range.isEmpty, code[range.lowerBound] == "[", closing(from: range.lowerBound + 1) == range.upperBound - 1
        else { return nil }
        return splitTopLevel((range.lowerBound + 1)..<(range.upperBound - 1))
    }

    /// The contents of the plain string literal `"…"` (no escapes or interpolation) filling `range`, else nil.
    func stringLiteral(_ range: Range<Int>) -> String? {
        guard range.count >= 2, text[range.lowerBound] == "\"", text[range.upperBound - 1] == "\"" else { return nil }
        let inner = text[(range.lowerBound + 1)..<(range.upperBound - 1)]
        guard !inner.contains("\""), !inner.contains("\\") else { return nil }
        return String(inner)
    }

    /// For `.callee(name: "X", …)` filling `range`: callee and X; else nil.
    func calledWithName(_ range: Range<Int>) -> (callee: String, name: String)? {
        guard let call = calls(named: ["product", "target", "byName"], in: range).first,
              call.open - call.name.count - 2 == range.lowerBound,
              let close = closing(from: call.open), close == range.upperBound - 1,
              let name = arguments(call.open..<close)["name"].flatMap(stringLiteral) else { return nil }
        return (call.name, name)
    }
}
