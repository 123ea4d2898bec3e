// Checks that docs/architecture.md's module table says what Package.swift declares, and that every library and
// executable target imports only the modules it declares; plus the parsers those checks rest on, on small texts.
import Foundation
import Testing

/// The package's folder, found from this file's path (Tests/ArchitectureTests/ArchitectureTests.swift).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

func readPackageFile(_ path: String) throws -> String {
    let url = packageRoot.appendingPathComponent(path)
    do { return try String(contentsOf: url, encoding: .utf8) } catch {
        throw ArchitectureError("cannot read \(url.path): \(error.localizedDescription)")
    }
}

/// The Swift files under a folder of the package, with paths relative to the package.
func swiftFiles(under folder: String) throws -> [(path: String, text: String)] {
    let base = packageRoot.appendingPathComponent(folder)
    guard let walker = FileManager.default.enumerator(atPath: base.path) else {
        throw ArchitectureError("\(base.path): no such folder (a target's sources)")
    }
    var files: [(path: String, text: String)] = []
    for case let relative as String in walker where relative.hasSuffix(".swift") {
        files.append((folder + "/" + relative, try readPackageFile(folder + "/" + relative)))
    }
    return files.sorted { $0.path < $1.path }
}

@Suite struct ArchitectureTests {
    /// Disagreements present on this branch whose fix is a docs/architecture.md edit, which the lead makes at
    /// merge. Each must still occur (the test fails on a stale entry): delete the entry with the doc fix.
    static let pendingDocFixes: Set<Disagreement> = [
        // overlay branch: the legend's text is rasterised with FreeType (rows "CFFmpeg, CFreeType, CHDF5, CZlib"
        // and Video's imports "CFFmpeg, CFreeType, FileOutput").
        Disagreement(target: "CFreeType", kind: .targetNotInTable),
        Disagreement(target: "Video", kind: .dependencyNotInTable(module: "CFreeType")),
    ]

    @Test func moduleTableMatchesPackageSwift() throws {
        let manifest = try PackageManifest(text: try readPackageFile("Package.swift"))
        let table = try ModuleTable(markdown: try readPackageFile("docs/architecture.md"))
        let found = compare(manifest, table)
        let unexpected = found.filter { !Self.pendingDocFixes.contains($0) }
        #expect(unexpected.isEmpty, """
            docs/architecture.md's module table and Package.swift disagree (fix the table's imports column or the \
            target's dependencies):
            \(unexpected.map { "  " + $0.description }.joined(separator: "\n"))
            """)
        let stale = Self.pendingDocFixes.subtracting(found)
        #expect(stale.isEmpty, """
            fixed in the doc, so delete from ArchitectureTests.pendingDocFixes: \
            \(stale.map(\.description).sorted().joined(separator: "; "))
            """)
    }

    @Test func sourcesImportOnlyDeclaredModules() throws {
        let manifest = try PackageManifest(text: try readPackageFile("Package.swift"))
        let found = try undeclaredImports(manifest, read: swiftFiles(under:))
        #expect(found.isEmpty, """
            imports not declared in Package.swift (add the dependency, or drop the import):
            \(found.map { "  " + $0.description }.joined(separator: "\n"))
            """)
    }

    /// Every folder of Sources/ and Tests/ is a target the parse found, so a declaration the parser
    /// misread cannot hide a disagreement.
    @Test func parsedManifestHoldsEveryTargetFolder() throws {
        let manifest = try PackageManifest(text: try readPackageFile("Package.swift"))
        let names = Set(manifest.targets.map(\.name))
        for top in ["Sources", "Tests"] {
            let folders = try FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent(top).path)
                .filter { !$0.hasPrefix(".") }
            for folder in folders {
                #expect(names.contains(folder), "\(top)/\(folder) is no target of the parsed Package.swift")
            }
        }
        let tool = try #require(manifest.targets.first { $0.name == "cmpc-video" })
        #expect(tool.kind == .executableTarget)
        #expect(tool.products == ["ArgumentParser"])
        #expect(manifest.targets.first { $0.name == "CFFmpeg" }?.path == "Sources/CFFmpeg")
    }

    static let sampleManifest = #"""
        // swift-tools-version:6.0
        import PackageDescription
        /* .target(name: "Commented", dependencies: ["Nope"]) */
        let package = Package(
            name: "sample",
            dependencies: [.package(url: "https://example.com/parser", from: "1.0.0")],
            targets: [
                .systemLibrary(name: "CLib", path: "Sources/CLib", pkgConfig: "lib"),
                .target(name: "Core", dependencies: ["CLib"], swiftSettings: [.unsafeFlags(["-O"])]),
                // .target(name: "Old", dependencies: ["Core"]),
                .target(
                    name: "Model",
                    dependencies: [
                        "Core", .target(name: "CLib"), .byName(name: "Extra"),
                        .product(name: "Parser", package: "parser"),
                    ]),
                .target(name: "Extra", exclude: ["notes (draft).md"]),
                .executableTarget(name: "tool", dependencies: ["Model", "Core", "Extra"]),
                .testTarget(name: "ModelTests", dependencies: ["Model"]),
            ])
        """#

    @Test func manifestParserReadsTargetsAndDependencies() throws {
        let manifest = try PackageManifest(text: Self.sampleManifest)
        #expect(manifest.targets.map(\.name) == ["CLib", "Core", "Model", "Extra", "tool", "ModelTests"])
        let byName = Dictionary(uniqueKeysWithValues: manifest.targets.map { ($0.name, $0) })
        #expect(byName["CLib"]?.kind == .systemLibrary)
        #expect(byName["CLib"]?.path == "Sources/CLib")
        #expect(byName["Core"]?.targets == ["CLib"])
        #expect(byName["Model"]?.targets == ["Core", "CLib", "Extra"])
        #expect(byName["Model"]?.products == ["Parser"])
        #expect(byName["Extra"]?.targets == [])
        #expect(byName["tool"]?.kind == .executableTarget)
        #expect(manifest.modules.map(\.name) == ["CLib", "Core", "Model", "Extra", "tool"])
    }

    @Test func manifestParserRejectsWhatItCannotRead() {
        #expect(throws: ArchitectureError.self) { try PackageManifest(text: "let package = Package(name: \"x\")") }
        #expect(throws: ArchitectureError.self) {
            try PackageManifest(text: #".target(name: "A", dependencies: [someVariable])"#)
        }
        #expect(throws: ArchitectureError.self) { try PackageManifest(text: #".target(name: "A", dependencies: ["B"]"#) }
    }

    static let sampleDoc = """
        # sample

        ## Modules (Swift targets) and who may import whom

        | target | holds | imports |
        |---|---|---|
        | CLib | a shim | — |
        | Core | the core (with a `|` in the text) | CLib |
        | Model | the model | Core, `CLib` |
        | Gone | removed long ago | Core |
        | tool | the command line | all |

        Text after the table.
        """

    @Test func tableParserReadsEachRow() throws {
        let table = try ModuleTable(markdown: Self.sampleDoc)
        #expect(table.rows.map(\.target) == ["CLib", "Core", "Model", "Gone", "tool"])
        #expect(table.rows[0].imports == .these([]))
        #expect(table.rows[1].imports == .these(["CLib"]))
        #expect(table.rows[2].imports == .these(["Core", "CLib"]))
        #expect(table.rows[4].imports == .all)
        let shared = try ModuleTable(markdown: ModuleTable.heading + "\n\n| target | imports |\n|---|---|\n| A, B | — |\n")
        #expect(shared.rows.map(\.target) == ["A", "B"])
        #expect(throws: ArchitectureError.self) { try ModuleTable(markdown: "# no table here") }
        #expect(throws: ArchitectureError.self) {
            try ModuleTable(markdown: ModuleTable.heading + "\n\n| name | uses |\n|---|---|\n| A | B |\n")
        }
    }

    @Test func comparisonListsEveryDisagreement() throws {
        let found = compare(try PackageManifest(text: Self.sampleManifest), try ModuleTable(markdown: Self.sampleDoc))
        #expect(Set(found) == [
            Disagreement(target: "Model", kind: .dependencyNotInTable(module: "Extra")),
            Disagreement(target: "Extra", kind: .targetNotInTable),
            Disagreement(target: "Gone", kind: .rowNotInPackage),
        ])
        #expect(found.count == 3)
        // "all" is every library target but the row's own: tool lacks none of Core, Model, Extra.
        let missingAll = try PackageManifest(text: #".target(name: "A"), .target(name: "B"), .executableTarget(name: "t", dependencies: ["A"])"#)
        let allTable = try ModuleTable(markdown: ModuleTable.heading + "\n\n| target | imports |\n|---|---|\n| A, B | — |\n| t | all |\n")
        #expect(compare(missingAll, allTable) == [Disagreement(target: "t", kind: .tableImportNotInPackage(module: "B"))])
    }

    @Test func importScanSeesEveryFormAndSkipsCommentsAndStrings() throws {
        let source = #"""
            // import Commented
            import Foundation
            @testable import Core
            @_exported import Model
            import struct Parser.Token
              import Indented
            let text = "import InString"
            let block = """
                import InMultilineString
                """
            /* import InBlockComment */
            """#
        #expect(importedModules(source) == ["Foundation", "Core", "Model", "Parser", "Indented"])
        let manifest = try PackageManifest(text: Self.sampleManifest)
        let found = undeclaredImports(manifest) { folder in
            folder == "Sources/Core" ? [("Sources/Core/A.swift", "import Foundation\nimport CLib\nimport Model\n")] : []
        }
        #expect(found == [Disagreement(target: "Core", kind: .undeclaredImport(module: "Model", file: "Sources/Core/A.swift"))])
    }
}
