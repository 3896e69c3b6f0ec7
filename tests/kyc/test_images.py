"""Image validation: allow-list, byte and pixel limits, bombs, corrupt files, re-encoding without EXIF."""

import io

import pytest
from PIL import Image

from jikuai.customers.kyc.images import ImageRejected, clean_image
from tests.kyc import factories as images


def _photo(size=(640, 480), colour=(180, 60, 60)) -> Image.Image:
    image = Image.new("RGB", size, colour)
    image.paste((20, 20, 200), (0, 0, size[0] // 4, size[1] // 4))  # a marker in the top-left corner
    return image


def _rejected(data, code: str) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        clean_image(images.upload(data))
    assert caught.value.code == code, caught.value.message
    assert caught.value.message_zh  # a Chinese message for people
    return caught.value


def test_jpeg_png_webp_are_accepted_and_become_jpeg():
    for image_format in ("JPEG", "PNG", "WEBP"):
        clean = clean_image(images.upload(images.encoded(_photo(), image_format)))
        assert clean.source_format == image_format
        assert Image.open(io.BytesIO(clean.content)).format == "JPEG"
        assert (clean.width, clean.height) == (640, 480)
        assert len(clean.sha256) == 64


@pytest.mark.parametrize("image_format", ["GIF", "BMP", "TIFF"])
def test_other_image_formats_are_refused(image_format):
    error = _rejected(images.encoded(_photo(), image_format), "image_format")
    assert "JPEG、PNG 或 WebP" in error.message_zh


def test_a_file_that_is_no_image_is_refused():
    _rejected(b"%PDF-1.7\n" + b"0" * 4000, "image_format")
    _rejected(b"<script>alert(1)</script>" * 50, "image_format")


def test_an_empty_file_is_refused():
    _rejected(b"", "image_empty")


def test_oversized_bytes_are_refused_before_decoding(settings):
    settings.JIKUAI = {**settings.JIKUAI, "KYC": {"MAX_UPLOAD_BYTES": 50_000}}
    data = images.encoded(Image.effect_noise((600, 600), 80).convert("RGB"), "PNG")
    assert len(data) > 50_000
    error = _rejected(data, "image_too_large")
    assert "MB" in error.message_zh


def test_default_limit_is_8_mb():
    data = b"\xff\xd8\xff" + b"\x00" * (8 * 1024 * 1024)  # a byte over the limit, no need to be an image
    _rejected(data, "image_too_large")


def test_pixel_limit_is_checked_from_the_header():
    # 9000 × 5000 = 45 MP > 40 MP; the file is a few kilobytes and is never decoded
    data = images.png_header_only(9000, 5000)
    assert len(data) < 20_000
    error = _rejected(data, "image_too_many_pixels")
    assert "百万像素" in error.message_zh


def test_decompression_bomb_is_refused():
    # 30000 × 30000 = 900 MP: Pillow's own bomb check fires while opening
    _rejected(images.png_header_only(30000, 30000), "image_too_many_pixels")


def test_truncated_jpeg_is_refused():
    data = images.jpeg_bytes(Image.effect_noise((800, 600), 60).convert("RGB"))
    _rejected(data[: len(data) // 2], "image_corrupt")


def test_corrupt_png_is_refused():
    data = bytearray(images.encoded(_photo(), "PNG"))
    data[60:80] = b"\x00" * 20  # inside the image data: the CRC no longer matches
    _rejected(bytes(data), "image_corrupt")


def test_too_small_image_is_refused():
    _rejected(images.jpeg_bytes(_photo((200, 150))), "image_too_small")


def test_exif_is_stripped_and_orientation_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned; viewers rotate 90° clockwise
    exif[0x010F] = "TestPhone Maker"  # Make
    exif[0x0132] = "2026:11:01 10:00:00"  # DateTime
    source = images.jpeg_bytes(_photo((640, 480)), exif=exif)
    assert Image.open(io.BytesIO(source)).getexif()[0x0112] == 6

    clean = clean_image(images.upload(source))

    stored = Image.open(io.BytesIO(clean.content))
    assert not stored.getexif()  # no EXIF at all
    assert "exif" not in stored.info and "icc_profile" not in stored.info
    assert b"TestPhone" not in clean.content
    assert (clean.width, clean.height) == (480, 640)  # turned upright before the EXIF went
    # the blue marker that was top-left is now top-right
    assert stored.convert("RGB").getpixel((470, 10))[2] > 150
    assert stored.convert("RGB").getpixel((10, 10))[0] > 150


def test_transparent_png_is_flattened_on_white():
    image = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    image.paste((10, 10, 10, 255), (100, 100, 300, 300))
    clean = clean_image(images.upload(images.encoded(image, "PNG")))
    stored = Image.open(io.BytesIO(clean.content)).convert("RGB")
    assert min(stored.getpixel((5, 5))) > 240
    assert max(stored.getpixel((200, 200))) < 40


def test_large_photos_are_downscaled_for_storage():
    clean = clean_image(images.upload(images.jpeg_bytes(_photo((4000, 3000)))))
    assert (clean.width, clean.height) == (2560, 1920)


def test_animated_images_are_refused():
    frames = [_photo(colour=(200, 0, 0)), _photo(colour=(0, 200, 0))]
    out = io.BytesIO()
    frames[0].save(out, format="WEBP", save_all=True, append_images=frames[1:])
    _rejected(out.getvalue(), "image_animated")
