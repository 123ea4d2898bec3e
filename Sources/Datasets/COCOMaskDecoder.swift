// The COCO mask decoder the readers use by default: Evaluation's RLE (pycocotools' maskApi).
import Foundation

/// The decoder `RefCOCO` uses unless given another.
public let defaultCOCOMaskDecoder: COCOMaskDecoding = EvaluationCOCOMaskDecoder()
