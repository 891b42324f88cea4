// io/stb_image_impl.cpp: the one translation unit that compiles stb_image and
// stb_image_write (single-header libraries: every other file includes the headers
// for their declarations only). Defining the *_IMPLEMENTATION macros in a second
// file would give duplicate symbols at link time.
//
// stb_image keeps its failure reason in a thread_local variable (C++11), so
// loader threads may decode concurrently and each reads its own reason.

// stb's own code trips -Wmissing-field-initializers; it is not ours to change.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"

#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

#pragma GCC diagnostic pop
