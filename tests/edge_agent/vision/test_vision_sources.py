"""Camera sources chosen by CAMERA_SOURCE: folder replay, video files, USB/RTSP, picamera2."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from edge_agent.vision.base import SourceError, VisionConfigError
from edge_agent.vision.sources import FolderSource, OpenCVSource, Picamera2Source, open_source_spec


def _images(folder, n=3):
    folder.mkdir(exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"f{i:03d}.png"), np.full((72, 128, 3), i * 20, np.uint8))
    return folder


def _video(path, n=5):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 72))
    for i in range(n):
        writer.write(np.full((72, 128, 3), i * 40, np.uint8))
    writer.release()
    return path


def test_each_source_kind_is_selected_by_the_setting(tmp_path):
    """picamera2, usb:N, rtsp://, a folder and a video file each give their source type."""
    assert isinstance(open_source_spec("picamera2"), Picamera2Source)
    usb = open_source_spec("usb:2")
    assert isinstance(usb, OpenCVSource) and usb.target == 2 and not usb.latest_only
    rtsp = open_source_spec("rtsp://127.0.0.1:8554/cam")
    assert isinstance(rtsp, OpenCVSource) and rtsp.latest_only
    assert isinstance(open_source_spec(str(_images(tmp_path / "imgs"))), FolderSource)
    video = open_source_spec(str(_video(tmp_path / "clip.avi")))
    assert isinstance(video, OpenCVSource) and video.target == str(tmp_path / "clip.avi")


@pytest.mark.parametrize("spec", ["usb:x", "/no/such/thing", "ftp://cam"])
def test_bad_source_setting_is_a_clear_error(spec):
    """A CAMERA_SOURCE that names nothing usable raises VisionConfigError."""
    with pytest.raises(VisionConfigError):
        open_source_spec(spec)


def test_picamera2_off_pi_fails_to_open_cleanly():
    """Without libcamera the Pi camera source raises SourceError, not ImportError."""
    with pytest.raises(SourceError):
        Picamera2Source().open()


def test_folder_replays_in_order_and_loops(tmp_path):
    """Images come back in name order, then start over."""
    src = FolderSource(_images(tmp_path / "imgs"), realtime=False)
    src.open()
    values = [int(src.read().image[0, 0, 0]) for _ in range(4)]
    assert values == [0, 20, 40, 0]


def test_folder_skips_frames_when_the_reader_is_slow(tmp_path):
    """Like a live camera, a late reader gets the frame due now, not a backlog."""
    src = FolderSource(_images(tmp_path / "imgs", 10), fps=20, loop=False)
    src.open()
    src.read()
    time.sleep(0.2)  # four frames are due meanwhile
    assert int(src.read().image[0, 0, 0]) >= 3 * 20


def test_video_file_frames_and_missing_device(tmp_path):
    """A video file yields its frames; an absent USB camera fails to open with SourceError."""
    src = OpenCVSource(str(_video(tmp_path / "clip.avi")))
    src.open()
    assert src.read().image.shape == (72, 128, 3)
    src.close()
    with pytest.raises(SourceError):
        OpenCVSource(97).open()
