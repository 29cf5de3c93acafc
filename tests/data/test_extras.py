"""PyAV and LitData are optional (`[video]`, `[shards]` extras): a missing one is named, with the extra to install,
where it is used; images train without either. Our calls to torchvision's deprecated image codecs (kept on purpose,
vision_ssl/data/image_files.py) raise no DeprecationWarning."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from helpers import REPO, cli_args_for
from PIL import Image

from vision_ssl.cli import USER_ERRORS
from vision_ssl.data.extras import MissingExtraError
from vision_ssl.data.image_files import decode


def test_missing_pyav_names_the_video_extra(monkeypatch, tmp_path):
    from vision_ssl.data.video import read_video

    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now raises ImportError, as when it is not installed
    with pytest.raises(MissingExtraError, match=r"^reading video files .*needs PyAV: pip install 'vision-ssl\[video\]'$"):
        read_video(str(tmp_path / "clip.mp4"), size=16)
    assert MissingExtraError in USER_ERRORS  # the CLI prints it as one line, without a traceback


def test_missing_litdata_names_the_shards_extra(monkeypatch, tmp_path):
    from vision_ssl.data.shards import write_split

    monkeypatch.setitem(sys.modules, "litdata", None)
    monkeypatch.delitem(sys.modules, "vision_ssl.data.shard_reader", raising=False)
    with pytest.raises(MissingExtraError, match=r"^reading image shards needs LitData: pip install 'vision-ssl\[shards\]'$"):
        import vision_ssl.data.shard_reader  # noqa: F401
    with pytest.raises(MissingExtraError, match=r"^writing image shards needs LitData: .*\[shards\]'$"):
        write_split([], str(tmp_path / "train"), lambda item: item, workers=1, chunk_bytes="1MB")


def test_image_training_needs_neither(tmp_path):
    args = cli_args_for(REPO / "configs" / "demo.yaml", tmp_path)
    code = ("import sys; sys.modules['av'] = sys.modules['litdata'] = None\n"
            "import vision_ssl.data, vision_ssl.cli\n"
            f"vision_ssl.cli.main({args!r})\n"
            "print('ok', [m for m in sys.modules if m.startswith(('av.', 'litdata.'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok []")


def test_torchvision_codec_deprecation_is_silenced_in_our_calls_only():
    buf = io.BytesIO()
    Image.fromarray(np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)).save(buf, "PNG")
    data = buf.getvalue()
    with pytest.warns(DeprecationWarning, match="image decoding and encoding capabilities of TorchVision"):
        from torchvision.io import decode_image

        expected = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8))  # the message we filter on
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(decode(data), expected)  # same decoder, same pixels, no warning
