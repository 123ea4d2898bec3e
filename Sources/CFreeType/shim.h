// Shim for FreeType (Debian's libfreetype-dev): the headers through ft2build.h, and the load flags Swift
// cannot import (macros with casts). Only Sources/Video/Legend.swift includes this module.
#pragma once
#include <ft2build.h>
#include FT_FREETYPE_H

/// Load a glyph and render it to an 8-bit anti-aliased bitmap.
static inline int swift_FT_LOAD_RENDER(void) { return FT_LOAD_RENDER; }
