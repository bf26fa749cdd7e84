"""Image sizes from headers agree with PIL; truncated and fake images are told apart from good ones."""
import pytest
from PIL import Image

from swiftplus.data import kinds as K
from swiftplus.data.images import ImageProblem, image_size

FORMATS = [("PNG", "png", {}), ("JPEG", "jpg", {}), ("JPEG", "jpg", {"progressive": True}), ("GIF", "gif", {}),
           ("WEBP", "webp", {"lossless": True}), ("WEBP", "webp", {"lossless": False}), ("BMP", "bmp", {}),
           ("TIFF", "tif", {})]


@pytest.mark.parametrize("size", [(1, 1), (37, 23), (640, 480), (3000, 17)])
@pytest.mark.parametrize("fmt,ext,kw", FORMATS, ids=[f"{f}-{k}" for f, _, k in FORMATS])
def test_header_size_matches_pil(fmt, ext, kw, size, tmp_path):
    path = tmp_path / f"x.{ext}"
    Image.new("RGB", size, (120, 30, 200)).save(path, fmt, **kw)
    assert image_size(str(path)) == size
    assert image_size(str(path), deep=True) == size


def test_jpeg_with_a_large_exif_block(tmp_path):
    path = tmp_path / "x.jpg"
    exif = Image.Exif()
    exif[0x010E] = "x" * 60000  # the frame header sits 60 KB in
    Image.new("RGB", (321, 123)).save(path, "JPEG", exif=exif.tobytes())
    assert image_size(str(path)) == (321, 123)


def test_animated_webp(tmp_path):
    path = tmp_path / "a.webp"
    frames = [Image.new("RGB", (50, 40), c) for c in ((0, 0, 0), (255, 0, 0))]
    frames[0].save(path, "WEBP", save_all=True, append_images=frames[1:])
    assert image_size(str(path)) == (50, 40)


@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("WEBP", "webp"),
                                     ("BMP", "bmp")])
def test_truncated_files_are_corrupt(fmt, ext, tmp_path):
    path = tmp_path / f"x.{ext}"
    Image.effect_noise((200, 150), 40).convert("RGB").save(path, fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageProblem) as e:
        image_size(str(path))
    assert e.value.kind == K.CORRUPT_IMAGE


@pytest.mark.parametrize("content,kind", [(b"", K.NOT_AN_IMAGE), (b"hello, world\n" * 10, K.NOT_AN_IMAGE),
                                          (b"\x89PNG\r\n\x1a\n", K.CORRUPT_IMAGE)])
def test_not_images(content, kind, tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(ImageProblem) as e:
        image_size(str(path))
    assert e.value.kind == kind


def test_missing_and_directory(tmp_path):
    with pytest.raises(ImageProblem) as e:
        image_size(str(tmp_path / "nope.png"))
    assert e.value.kind == K.MISSING_FILE
    with pytest.raises(ImageProblem) as e:
        image_size(str(tmp_path))
    assert e.value.kind == K.NOT_AN_IMAGE
