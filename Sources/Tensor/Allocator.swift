// How the engine asks glibc's malloc to treat its tensors. A network allocates and frees many
// tensors of 1–30 MB per forward pass; by default glibc maps such blocks fresh (mmap above a
// threshold that adapts only after frees) and hands the top of the heap back to the kernel once
// more than twice that threshold is free, so the next pass pays a page fault per 4 KB again.
// Keeping blocks up to 32 MB in the heap and never trimming it removes those faults (the image
// network: 0.90–1.00 s against 1.05–1.15 s in alternating runs); the peak resident memory does not
// change — memory a pass freed is reused by the next one instead of being returned and faulted in.
// A user's own malloc settings (GLIBC_TUNABLES, MALLOC_*_ variables) are kept.
#if canImport(Glibc)
import Glibc
#endif

public enum Allocator {
    /// What was done, for `bench` to print.
    public private(set) static var note = "malloc: glibc defaults"

    private static let configured: Void = {
        #if canImport(Glibc)
        let names: [String] = ["GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"]
        let userSet = names.contains { name in getenv(name) != nil }
        // mallopt(M_TRIM_THRESHOLD = -1, …), mallopt(M_MMAP_THRESHOLD = -3, …): malloc.h is not a
        // Swift module, so the function is looked up.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        if userSet {
            note = "malloc: the user's settings (GLIBC_TUNABLES / MALLOC_*_)"
        } else if let f = dlsym(nil, "mallopt") {
            let mallopt = unsafeBitCast(f, to: Mallopt.self)
            if mallopt(-3, 32 << 20) == 1, mallopt(-1, Int32.max) == 1 {
                note = "malloc: blocks up to 32 MB from the heap, never trimmed (chosen by the engine)"
            }
        }
        #endif
    }()

    /// Applies the engine's malloc settings once per process (idempotent).
    public static func configure() { _ = configured }
}
