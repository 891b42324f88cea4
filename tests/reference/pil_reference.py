#!/usr/bin/python3
"""tests/reference/pil_reference.py: PIL (python3-pil) and torchvision as the
reference for skinmtl's image preprocessing.

The C++ test tests/io/test_pil_reference.cpp writes images as PNG files (decoded
by skinmtl, so that both sides start from the very same pixels), runs this
script with Debian's /usr/bin/python3, and compares what comes back with what
skinmtl computes. Nothing here imports skinmtl.

Jobs:

  resize IN H W OUT [IN H W OUT ...]
      Image.open(IN).resize((W, H), Image.BILINEAR).save(OUT): PIL's
      antialiased bilinear resampling, which io/image.h resize() follows.

  torchvision IN OUT [IN OUT ...]
      The classification preprocessing of torchvision on a PIL image:
      Compose([Resize(256), CenterCrop(224)])(Image.open(IN).convert('RGB')),
      saved as OUT (8-bit RGB, before ToTensor). IN may be a JPEG (then PIL's
      libjpeg decodes it) or a PNG written by skinmtl.

  masks DIR
      Lesion masks as other programs write them, all with one pattern (a 9 x 13
      diagonal band, lesion where (x + 2 y) % 3 == 0): DIR/band_1bit.bmp (mode
      "1", a 1-bit BMP), band_8bit.bmp (mode "L"), band_24bit.bmp (mode "RGB",
      white on black), band_red.png (RGB, red on black), band_1bit.png.
"""
import sys

from PIL import Image


def job_resize(args):
    if len(args) % 4:
        sys.exit("resize: arguments come in fours: IN H W OUT")
    for i in range(0, len(args), 4):
        src, h, w, dst = args[i], int(args[i + 1]), int(args[i + 2]), args[i + 3]
        Image.open(src).resize((w, h), Image.BILINEAR).save(dst)


def job_torchvision(args):
    import torchvision.transforms as T  # only this job needs torch

    if len(args) % 2:
        sys.exit("torchvision: arguments come in pairs: IN OUT")
    tf = T.Compose([T.Resize(256), T.CenterCrop(224)])
    for src, dst in zip(args[0::2], args[1::2]):
        tf(Image.open(src).convert("RGB")).save(dst)


def job_masks(args):
    (folder,) = args
    h, w = 9, 13
    lesion = [[(x + 2 * y) % 3 == 0 for x in range(w)] for y in range(h)]

    def image(mode, on, off):
        im = Image.new(mode, (w, h), off)
        for y in range(h):
            for x in range(w):
                if lesion[y][x]:
                    im.putpixel((x, y), on)
        return im

    image("1", 1, 0).save(folder + "/band_1bit.bmp")
    image("1", 1, 0).save(folder + "/band_1bit.png")
    image("L", 255, 0).save(folder + "/band_8bit.bmp")
    image("RGB", (255, 255, 255), (0, 0, 0)).save(folder + "/band_24bit.bmp")
    image("RGB", (255, 0, 0), (0, 0, 0)).save(folder + "/band_red.png")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    jobs = {"resize": job_resize, "torchvision": job_torchvision, "masks": job_masks}
    if sys.argv[1] not in jobs:
        sys.exit("unknown job %r (resize, torchvision, masks)" % sys.argv[1])
    jobs[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
