// The one translation unit that compiles the stb single-header libraries
// (public domain, Sean Barrett; Debian's libstb-dev puts them in
// /usr/include/stb): stb_image_write for PNG output (figures/plot.cpp) and
// stb_image for reading images back (tests, and the data loader later).
// Every other file includes the headers WITHOUT these defines, which gives
// declarations only.
//
// The libraries are third-party C written for many compilers; their code is
// not ours to fix, so -Wall/-Wextra are silenced for them here only.
//
// stb_image keeps its failure reason in a thread_local variable (C++11), so
// loader threads may decode concurrently and each reads its own reason.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-function"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"

#define STB_IMAGE_IMPLEMENTATION
#include "stb_image.h"

#pragma GCC diagnostic pop
