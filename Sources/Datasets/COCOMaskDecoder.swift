// The COCO mask decoder the readers use by default.
//
// COCO polygon and RLE decoding lives in the Evaluation module (RLE.fromPolygons,
// RLE(compressed:height:width:), decode()). Until that code is on main this points at a
// stand-in that throws a clear error; Pending/EvaluationCOCOMaskDecoder.swift (excluded from the
// build in Package.swift) is the adapter to switch to.
import Foundation

/// The decoder `RefCOCO` uses unless given another.
public let defaultCOCOMaskDecoder: COCOMaskDecoding = UnavailableCOCOMaskDecoder()
