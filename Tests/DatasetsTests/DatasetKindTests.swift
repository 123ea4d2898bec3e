// DatasetKind: the dataset names and aliases the command line takes, and the reader each one makes.
import Foundation
import Testing
@testable import Datasets

@Suite struct DatasetKindTests {
    @Test func namesAndAliasesInAnyCase() {
        #expect(DatasetKind.allCases.map(\.rawValue) == ["a2d", "jhmdb", "unc", "unc+", "gref", "gref-umd", "referit", "ytvos", "mevis", "refdavis"])
        let spellings: [(String, DatasetKind)] = [
            ("a2d", .a2d), ("A2D-Sentences", .a2d), ("jhmdb", .jhmdb), ("jhmdb-sentences", .jhmdb),
            ("UNC", .unc), ("refcoco", .unc), ("unc+", .uncPlus), ("RefCOCO+", .uncPlus), ("gref", .gref),
            ("refcocog", .gref), ("gref-umd", .grefUMD), ("refcocog-umd", .grefUMD), ("ReferIt", .referit),
            ("ytvos", .ytvos), ("Ref-YouTube-VOS", .ytvos), ("refytvos", .ytvos), ("MeViS", .mevis), ("Ref-DAVIS17", .refdavis),
        ]
        for (name, kind) in spellings { #expect(DatasetKind(name: name) == kind, "\(name)") }
        for name in ["", "coco", "unc-", "a2d sentences", "gref-google"] { #expect(DatasetKind(name: name) == nil, "\(name)") }
        #expect(Set(DatasetKind.aliases.keys).isDisjoint(with: DatasetKind.allCases.map(\.rawValue)))
    }

    @Test func eachNameMakesItsReader() throws {
        #expect(try DatasetKind.a2d.reader(root: "r") is A2DSentences)
        #expect(try DatasetKind.jhmdb.reader(root: "r") is JHMDBSentences)
        #expect(try DatasetKind.referit.reader(root: "r") is ReferIt)
        #expect(try DatasetKind.ytvos.reader(root: "r") is RefYouTubeVOS)
        #expect(try DatasetKind.mevis.reader(root: "r") is MeViS)
        #expect((try DatasetKind.refdavis.reader(root: "r") as? RefYouTubeVOS)?.name == "refdavis")
        let refer: [(DatasetKind, RefCOCO.Variant, String)] = [
            (.unc, .refcoco, "unc"), (.uncPlus, .refcocoPlus, "unc"), (.gref, .refcocog, "google"), (.grefUMD, .refcocog, "umd"),
        ]
        for (kind, variant, splitBy) in refer {
            let reader = try #require(try kind.reader(root: "r", images: "coco") as? RefCOCO, "\(kind)")
            #expect(reader.variant == variant && reader.splitBy == splitBy && reader.imagesFolder == "coco", "\(kind)")
            #expect(!kind.isVideo)
        }
        #expect(DatasetKind.a2d.isVideo && DatasetKind.jhmdb.isVideo && !DatasetKind.referit.isVideo)
    }

    @Test func anImagesFolderIsOnlyForTheRefCOCOFamily() {
        for kind in [DatasetKind.a2d, .jhmdb, .referit, .ytvos, .mevis, .refdavis] {
            expectDatasetError(["coco-images", "RefCOCO family", kind.rawValue]) {
                _ = try kind.reader(root: "r", images: "coco-images")
            }
        }
    }

    @Test func refCOCOByNameTakesOnlyItsFamily() throws {
        #expect(try RefCOCO(root: "r", name: "refcoco+").variant == .refcocoPlus)
        expectDatasetError(["unknown dataset", "a2d", "unc, unc+, gref, gref-umd"]) { _ = try RefCOCO(root: "r", name: "a2d") }
    }
}
